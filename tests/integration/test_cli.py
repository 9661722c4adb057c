"""The command line: help texts, usage errors (exit 2), `config`, the config
documentation in configs/README.md, and `make-data` checked with numpy."""
import glob
import json
import os
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from harness import must_msg


# ---- help texts and usage errors -------------------------------------------------

def test_help_lists_commands_and_exit_codes(workspace):
    p = workspace.run(["--help"])
    assert p.returncode == 0 and all(c in p.stdout for c in ("train", "make-data", "config", "exit codes")), \
        f"driftrun --help lists the commands and exit codes: (exit {p.returncode}) {p.stdout[-1500:]}"


def test_no_command_prints_usage_exit_2(workspace):
    p = workspace.run([])
    assert p.returncode == 2 and "usage" in p.stdout, \
        f"driftrun without a command: usage, exit 2: (exit {p.returncode}) {p.stdout[-800:]}"


def test_unknown_command_exit_2(workspace):
    p = workspace.run(["trian"])
    assert p.returncode == 2 and "unknown command 'trian'" in p.stderr, \
        f"unknown command: exit 2: (exit {p.returncode}) {p.stderr[-800:]}"


def test_train_help_explains_every_flag(workspace):
    p = workspace.run(["train", "--help"])
    assert p.returncode == 0 and all(f in p.stdout for f in ("--config", "--set", "--run-dir", "--resume")), \
        f"train --help explains every flag: (exit {p.returncode}) {p.stdout[-1500:]}"


def test_make_data_help_explains_every_flag(workspace):
    p = workspace.run(["make-data", "--help"])
    assert p.returncode == 0 and all(f in p.stdout for f in ("--drift", "--drift-from", "--missing", "--task")), \
        f"make-data --help explains every flag: (exit {p.returncode}) {p.stdout[-1500:]}"


def test_flag_value_of_wrong_type_exit_2(workspace):
    p = workspace.run(["make-data", "--rows", "ten"])
    assert p.returncode == 2 and "--rows" in p.stderr, \
        f"a flag value of the wrong type: exit 2 naming the flag: (exit {p.returncode}) {p.stderr[-800:]}"


def test_bad_choice_exit_2(workspace):
    p = workspace.run(["make-data", "--drift", "sideways"])
    assert p.returncode == 2 and "--drift" in p.stderr, \
        f"a bad choice: exit 2 naming the flag: (exit {p.returncode}) {p.stderr[-800:]}"


@pytest.mark.parametrize("typo, want", [("trian", "train"), ("registy", "registry"), ("predcit", "predict")])
def test_unknown_command_suggests_the_nearest(workspace, typo, want):
    p = workspace.run([typo])
    assert p.returncode == 2 and f"did you mean `{want}`?" in p.stderr, \
        f"driftrun {typo}: exit 2 suggesting `{want}`: (exit {p.returncode}) {p.stderr[-800:]}"


@pytest.mark.parametrize("args, want", [(["train", "--run_dri", "x"], "--run-dir"),
                                        (["predict", "--modle", "m"], "--model"),
                                        (["registry", "list", "--jsno"], "--json")])
def test_unknown_flag_suggests_the_nearest(workspace, args, want):
    p = workspace.run(args)
    assert p.returncode == 2 and f"did you mean '{want}'?" in p.stderr, \
        f"{' '.join(args)}: exit 2 suggesting '{want}': (exit {p.returncode}) {p.stderr[-800:]}"


def test_unknown_registry_command_suggests_the_nearest(workspace):
    p = workspace.run(["registry", "lsit"])
    assert p.returncode == 2 and "did you mean `list`?" in p.stderr and not os.listdir(workspace.tmp), \
        f"registry lsit: exit 2 suggesting `list`, nothing created: (exit {p.returncode}) {p.stderr[-800:]}"


def _commands(workspace):
    out = workspace.run(["--help"]).stdout
    block = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [ln.split()[0] for ln in block.splitlines() if ln.strip()]


def test_every_help_names_only_flags_that_exist(workspace):
    """Every `--flag` a command's help mentions is one of its flags; no required
    flag shows `(default "")`."""
    bad = {}
    commands = _commands(workspace)
    assert {"train", "predict", "registry"} <= set(commands), f"commands from --help: {commands}"
    for c in commands:
        text = workspace.run([c, "--help"]).stdout
        declared = set(re.findall(r"^  --([a-z0-9-]+)", text, re.M))
        mentioned = {m.replace("_", "-") for m in re.findall(r"(?<![\w-])--([a-z][a-z0-9_-]*)", text)}
        unknown = sorted(m for m in mentioned - declared if not (m.startswith("no") and m[2:] in declared))
        if unknown or '(default "")' in text:
            bad[c] = (unknown, '(default "")' in text)
    assert not bad, f"help texts name flags the command lacks, or show (default \"\"): {bad}"


def test_predict_help_says_label_is_classification_only(workspace):
    text = workspace.run(["predict", "--help"]).stdout
    out_help = text.split("  --out", 1)[1].split("\n  --", 1)[0]
    assert "/label" in out_help and "classification only" in out_help, \
        f"predict --help: /label is written for classification only: {out_help}"


def test_control_characters_in_input_are_escaped(workspace):
    p = workspace.run(["tr\x1b[2Jain"])
    assert p.returncode == 2 and "\x1b" not in p.stderr and "tr\\e[2Jain" in p.stderr, \
        f"an unknown command with ESC is printed escaped: {p.stderr!r}"
    p = workspace.run(["make-data", "--rows", "1\n2\x1b[31m"])
    assert p.returncode == 2 and "\x1b" not in p.stderr and p.stderr.count("\n") == 1, \
        f"a flag value with a newline and ESC is printed escaped on one line: {p.stderr!r}"


def test_drift_escapes_feature_names(workspace):
    """A feature name from the data with ESC and a newline is printed escaped;
    --json keeps it exactly."""
    rng = np.random.default_rng(3)
    names = ["plain", "bad\x1b[2J\nname"]
    for fname, shift in (("ref.h5", 0.0), ("cur.h5", 3.0)):
        with h5py.File(workspace.path(fname), "w") as f:
            f["features"] = (rng.normal(size=(500, 2)) + shift).astype(np.float32)
            f["features"].attrs["feature_names"] = names
    p = workspace.run(["drift", "--reference", "ref.h5", "--current", "cur.h5"])
    assert p.returncode == 0 and "\x1b" not in p.stdout and "  bad\\e[2J\\nname: drifted" in p.stdout, \
        f"drift prints the feature name escaped, on its line: (exit {p.returncode}) {p.stdout!r} {p.stderr[-500:]}"
    p = workspace.run(["drift", "--reference", "ref.h5", "--current", "cur.h5", "--json"])
    assert p.returncode == 0 and [f["name"] for f in json.loads(p.stdout)["features"]] == names, \
        f"drift --json keeps the names exactly: {p.stdout[:500]}"


# ---- config: resolved output round-trips; docs cover every key and match configs/README.md

def test_config_resolves_and_round_trips(workspace):
    p = workspace.run(["config", "--set", "train.lr=0.5"])
    assert p.returncode == 0 and "lr = 0.5" in p.stdout, \
        f"config prints the resolved config with overrides: (exit {p.returncode}) {p.stdout[-1500:]} {p.stderr[-800:]}"
    resolved = workspace.write_config("resolved.toml", p.stdout)
    p2 = workspace.run(["config", "--config", resolved])
    assert p2.returncode == 0 and p2.stdout == p.stdout, \
        f"the resolved config is a valid config that resolves to itself: (exit {p2.returncode}) {p2.stderr[-800:]}"


@pytest.fixture(scope="module")
def config_docs(module_workspace):
    """(the key table from `driftrun config --docs`, its documented keys, configs/README.md)."""
    docs = module_workspace.run(["config", "--docs"]).stdout
    keys = re.findall(r"^\| `([a-z_.]+)` \|", docs, re.M)
    with open(os.path.join(module_workspace.source, "configs", "README.md")) as f:
        readme = f.read()
    return docs, keys, readme


def test_readme_documents_every_config_key(config_docs):
    _, keys, readme = config_docs
    missing = [k for k in keys if f"`{k}`" not in readme]
    assert len(keys) > 30 and not missing, f"configs/README.md documents all {len(keys)} keys: {missing}"


def test_readme_config_table_up_to_date(config_docs):
    docs, _, readme = config_docs
    stale = [line for line in docs.splitlines()[2:] if line not in readme]
    assert not stale, \
        f"configs/README.md table is up to date (regenerate with driftrun config --docs): {stale[0]}"


def test_shipped_configs_are_valid(workspace):
    folder = os.path.join(workspace.source, "configs")
    invalid = {}
    for cfg in sorted(os.listdir(folder)):
        if cfg.endswith(".toml"):
            p = workspace.run(["config", "--config", os.path.join(folder, cfg)])
            if p.returncode != 0:
                invalid[f"configs/{cfg}"] = p.stderr
    assert not invalid, f"configs/*.toml are valid configs; these are not: {invalid}"


# ---- make-data: ground truth, missing values, drift, checked with numpy ------------

@pytest.fixture(scope="module")
def drift_data(module_workspace):
    """make-data with missing values and mean drift from batch 2: (process, workspace)."""
    ws = module_workspace
    p = ws.run(["make-data", "--out", ws.path("d"), "--rows", "20000", "--features", "8", "--missing", "0.1",
                "--batches", "3", "--batch-rows", "20000", "--drift", "mean", "--drift-from", "2",
                "--drift-magnitude", "1.0", "--drift-share", "0.25", "--json"])
    return p, ws


def test_make_data_writes_train_and_batches(drift_data):
    p, _ = drift_data
    assert p.returncode == 0, f"make-data with drift exits 0: {p.stderr}"
    info = json.loads(p.stdout)
    assert len(info["files"]) == 4, f"make-data wrote train.h5 and 3 batches: {info['files']}"


def test_make_data_again_leaves_only_its_new_data_set(workspace):
    """Found by a stranger: make-data into a folder with 5 batches, then with 2,
    left batches 3-5 of the first data set (a service watching the folder would
    read them). They are removed; a train.h5 that make-data did not write is
    refused (exit 2) and stays as it was."""
    d = workspace.path("again")
    p = workspace.run(["make-data", "--out", d, "--rows", "300", "--batches", "5", "--batch-rows", "50"])
    assert p.returncode == 0, must_msg(p, "make-data 5 batches")
    p = workspace.run(["make-data", "--out", d, "--rows", "300", "--batches", "2", "--batch-rows", "50", "--json"])
    assert p.returncode == 0, must_msg(p, "make-data 2 batches")
    assert sorted(os.listdir(d)) == ["batch-001.h5", "batch-002.h5", "train.h5"], os.listdir(d)
    assert len(json.loads(p.stdout)["removed"]) == 3
    mine = workspace.path("mine")
    os.makedirs(mine)
    with h5py.File(os.path.join(mine, "train.h5"), "w") as f:
        f["features"] = np.ones((4, 2), dtype=np.float32)
    before = open(os.path.join(mine, "train.h5"), "rb").read()
    p = workspace.run(["make-data", "--out", mine, "--rows", "300"])
    assert p.returncode == 2 and "was not written by make-data" in p.stderr, must_msg(p, "make-data over my data")
    assert open(os.path.join(mine, "train.h5"), "rb").read() == before
    # Found by a stranger: a batch of another data set, alone in a folder, was deleted as stale.
    other = workspace.path("other")
    os.makedirs(other)
    shutil.copy(os.path.join(d, "batch-002.h5"), os.path.join(other, "batch-007.h5"))
    p = workspace.run(["make-data", "--out", other, "--rows", "300", "--batches", "2", "--batch-rows", "50"])
    assert p.returncode == 2 and "batch-007.h5' is not of the data set" in p.stderr, must_msg(p, "another set's batch")
    assert os.listdir(other) == ["batch-007.h5"]
    # round 2: a run folder or a registry is not a data folder
    run_like, reg = workspace.path("run-like"), workspace.path("reg-like")
    os.makedirs(os.path.join(run_like, "checkpoints"))
    os.makedirs(reg)
    open(os.path.join(reg, "registry.db"), "w").close()
    for target in (run_like, reg):
        p = workspace.run(["make-data", "--out", target, "--rows", "300"])
        assert p.returncode == 2 and "data folder of its own" in p.stderr, must_msg(p, f"make-data --out {target}")
        assert not os.path.exists(os.path.join(target, "train.h5"))


@pytest.fixture(scope="module")
def train_features(drift_data):
    _, ws = drift_data
    with h5py.File(ws.path("d/train.h5")) as f:
        x = f["/features"][()]
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["feature_names"]]
    return x, names


def test_make_data_missing_rate(train_features):
    x, _ = train_features
    assert abs(np.isnan(x).mean() - 0.1) < 0.01, f"missing rate ~0.1 ({np.isnan(x).mean():.3f})"


def test_make_data_feature_names(train_features):
    _, names = train_features
    assert names == [f"f{i}" for i in range(8)], f"feature_names attribute: {names}"


@pytest.mark.parametrize("b, drifted", [(1, False), (2, True), (3, True)])
def test_make_data_mean_drift(drift_data, train_features, b, drifted):
    _, ws = drift_data
    x, _ = train_features
    mu, sd = np.nanmean(x, 0), np.nanstd(x, 0)
    with h5py.File(ws.path(f"d/batch-{b:03d}.h5")) as f:
        xb = f["/features"][()]
        attr = f.attrs["drift"]
    shift = (np.nanmean(xb, 0) - mu) / sd
    want = np.array([1.0, 1.0] + [0.0] * 6) if drifted else np.zeros(8)
    assert np.all(np.abs(shift - want) < 0.05), f"batch {b}: mean shift per feature {np.round(shift, 2)}"
    assert (attr == "mean") == drifted, f"batch {b}: drift attribute '{attr}'"


def test_make_data_classification_labels(workspace):
    p = workspace.run(["make-data", "--out", workspace.path("c"), "--rows", "3000", "--task", "classification",
                       "--classes", "5"])
    with h5py.File(workspace.path("c/train.h5")) as f:
        y = f["/labels"][()]
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(5)), \
        f"classification labels are int64 in [0, 5): dtype {y.dtype}, values {np.unique(y)}; {p.stderr[-500:]}"


@pytest.mark.parametrize("override,key", [("name=\"-x\"", "name"), ("name=\"a..b\"", "name"),
                                          ("name=\"a b\"", "name"), ("train.lr=-1", "train.lr"),
                                          ("train.lr=inf", "train.lr"), ("model.dropout=1.5", "model.dropout"),
                                          ("drift.share=2", "drift.share"),
                                          ("registry.tolerance=-1", "registry.tolerance"),
                                          ("train.cuda_graph=\"yes\"", "train.cuda_graph"),
                                          ("dist.shared_memory=true", "dist.shared_memory"),
                                          ("dist.shared_memory=\"yes\"", "dist.shared_memory")])
def test_config_refuses_what_train_refuses(workspace, override, key):
    """One validation path: `config` exits 2 where `train` would, before any work."""
    p = workspace.run(["config", "--set", override])
    assert p.returncode == 2 and key in p.stderr, must_msg(p, f"config --set {override}")
    workspace.make_data(workspace.path("vdata"), "--rows", "400", "--features", "3")
    cfg = workspace.write_config("v.toml", f'[data]\ntrain = "{workspace.path("vdata/train.h5")}"\n')
    d = workspace.path("vrun-" + key.replace(".", "-"))
    t = workspace.run(["train", "--config", cfg, "--set", override, "--run-dir", d, "--quiet"])
    assert t.returncode == 2 and key in t.stderr, must_msg(t, f"train --set {override}")
    assert not os.path.exists(d), "a refused config left a run folder"


def test_cuda_graph_on_is_refused_where_it_cannot_run(workspace):
    """train.cuda_graph = "on" asks for a graph: refused (exit 2, naming the key,
    no run folder) on the CPU, for a CNN, or with dropout; "auto" trains."""
    if shutil.which("nvidia-smi") and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0:
        pytest.skip("a GPU is present: train.cuda_graph = \"on\" may run here")
    ws = workspace
    for extra in (["--set", "train.device=\"cpu\""], ["--set", "model.dropout=0.2"],
                  ["--set", "model.kind=\"cnn\""]):
        p = ws.run(["config", "--set", "train.cuda_graph=\"on\""] + extra)
        assert p.returncode == 2 and "train.cuda_graph" in p.stderr, must_msg(p, f"config, on with {extra}")
    ws.make_data(ws.path("gdata"), "--rows", "400", "--features", "3")
    cfg = ws.write_config("g.toml", f'[data]\ntrain = "{ws.path("gdata/train.h5")}"\n[train]\nepochs = 1\n')
    t = ws.run(["train", "--config", cfg, "--set", "train.cuda_graph=\"on\"", "--run-dir", ws.path("g-on"),
                "--quiet"])
    assert t.returncode == 2 and "train.cuda_graph" in t.stderr and "CPU" in t.stderr, \
        must_msg(t, "train with cuda_graph = on and no GPU")
    assert not os.path.exists(ws.path("g-on")), "a refused start left a run folder"
    a = ws.run(["train", "--config", cfg, "--run-dir", ws.path("g-auto"), "--quiet"])
    assert a.returncode == 0, must_msg(a, "train with cuda_graph = auto on the CPU")
    s = json.load(open(ws.path("g-auto/summary.json")))
    assert (s["step_kind"], s["graph_replays"]) == ("direct", 0), f"an MLP on the CPU: {s['step_kind']}"
    b = ws.run(["train", "--config", cfg, "--run-dir", ws.path("g-autograd"), "--quiet"],
               env={"DRIFTRUN_AUTOGRAD_STEP": "1"})
    assert b.returncode == 0, must_msg(b, "train with DRIFTRUN_AUTOGRAD_STEP=1")
    assert json.load(open(ws.path("g-autograd/summary.json")))["step_kind"] == "autograd"
    # The same weights either way.
    w = [h5py.File(glob.glob(ws.path(f"{r}/checkpoints/ckpt-*.h5"))[-1]) for r in ("g-auto", "g-autograd")]
    for k in w[0]["model"]:
        assert np.array_equal(w[0]["model"][k][()], w[1]["model"][k][()]), f"{k} differs"
    for f in w:
        f.close()
    # A switch that is neither 0 nor 1 is refused, not read as off.
    for var, val in (("DRIFTRUN_AUTOGRAD_STEP", "true"), ("DRIFTRUN_STEP_PIPELINE", "yes")):
        r = ws.run(["train", "--config", cfg, "--run-dir", ws.path(f"g-{var}"), "--quiet"], env={var: val},
                   ranks=2)
        assert r.returncode == 2 and f"{var}='{val}': use 0 or 1" in r.stderr, must_msg(r, f"{var}={val}")
        assert r.stderr.count("usage error") == 1, f"one message for 2 ranks: {r.stderr}"
        assert not os.path.exists(ws.path(f"g-{var}")), "a refused start left a run folder"


def test_paths_in_a_config_are_relative_to_its_folder(workspace):
    ws = workspace
    ws.make_data(ws.path("proj/data"), "--rows", "400", "--features", "3")
    os.makedirs(ws.path("proj/configs"), exist_ok=True)
    cfg = ws.write_config("proj/configs/exp.toml",
                          'name = "rel"\n[data]\ntrain = "../data/train.h5"\n[train]\nepochs = 1\n'
                          '[registry]\npath = "../reg"\n')
    elsewhere = ws.path("elsewhere")
    os.makedirs(elsewhere)
    r = ws.run(["config", "--config", cfg], cwd=elsewhere)
    assert r.returncode == 0, must_msg(r, "config")
    assert re.search(r"^train = \[.%s.\]$" % re.escape(ws.path("proj/data/train.h5")), r.stdout, re.M), r.stdout
    assert re.search(r"^path = .%s.$" % re.escape(ws.path("proj/reg")), r.stdout, re.M), r.stdout
    d = ws.path("proj/run")
    t = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--set", "registry.register=true"],
               cwd=elsewhere)
    assert t.returncode == 0, must_msg(t, "train from another folder")
    assert os.path.exists(ws.path("proj/reg/registry.db")), "the registry went elsewhere"
    # The resolved config names the same files from anywhere.
    s = ws.run(["registry", "show", "rel:1", "--json", "--registry", ws.path("proj/reg")], cwd="/")
    assert s.returncode == 0, must_msg(s, "registry show")
    assert ws.path("proj/data/train.h5") in s.stdout, s.stdout[:2000]


def test_version_is_the_tree_the_binary_was_built_from(workspace):
    """--version (and so every run's code_version) is `git describe` at build
    time, not at configure time: a commit after configuring shows."""
    src = workspace.source
    want = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=src, capture_output=True,
                          text=True)
    if want.returncode != 0:
        pytest.skip(f"{src} is not a git checkout")
    p = workspace.run(["--version"])
    assert p.returncode == 0 and p.stdout.strip() == f"driftrun {want.stdout.strip()}", (p.stdout, want.stdout)


def test_train_without_its_exporter_is_refused_before_training(workspace):
    """driftrun copied alone: a run that ends in an ONNX export (export.onnx,
    the default) exits 5 at once, naming driftrun-export, with no run folder;
    with export.onnx = false and no registration it trains."""
    workspace.make_data(workspace.path("data"), "--rows", "600", "--features", "4")
    cfg = workspace.write_config("lone.toml", f'name = "lone"\n[data]\ntrain = "{workspace.path("data/train.h5")}"\n'
                                              '[train]\nepochs = 1\n')
    lone = workspace.path("bin", "driftrun")
    os.makedirs(os.path.dirname(lone))
    shutil.copy2(workspace.driftrun, lone)
    run = workspace.path("run-lone")
    p = subprocess.run([lone, "train", "--config", cfg, "--run-dir", run, "--quiet"], cwd=workspace.tmp,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 5 and "driftrun-export' is missing" in p.stderr, must_msg(p, "train without exporter")
    assert not os.path.exists(run), "nothing trained, no run folder"
    p = subprocess.run([lone, "train", "--config", cfg, "--run-dir", run, "--quiet", "--set", "export.onnx=false"],
                       cwd=workspace.tmp, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, must_msg(p, "train without exporter and without export.onnx")
    exporter = workspace.path("bin", "driftrun-export")
    shutil.copy(os.path.join(os.path.dirname(workspace.driftrun), "driftrun-export"), exporter)
    os.chmod(exporter, 0o644)  # copied without its mode: there, but not executable
    p = subprocess.run([lone, "train", "--config", cfg, "--run-dir", workspace.path("run-noexec"), "--quiet"],
                       cwd=workspace.tmp, capture_output=True, text=True, timeout=120)
    assert p.returncode == 5 and "is not executable" in p.stderr, must_msg(p, "train with a non-executable exporter")


def test_train_and_submit_refuse_a_service_config(workspace):
    """Found by a stranger: train --config svc.toml (a service config) trained
    the defaults with exit 0. A config that sets service.models is refused by
    train and submit (exit 2), pointing at serve and at one of its models."""
    workspace.make_data(workspace.path("data"), "--rows", "600", "--features", "4")
    model = workspace.write_config("m.toml", f'name = "m"\n[data]\ntrain = "{workspace.path("data/train.h5")}"\n')
    svc = workspace.write_config("svc.toml", f'[service]\nmodels = ["m.toml"]\nstate = "{workspace.path("st")}"\n')
    for cmd in (["train", "--config", svc, "--quiet"], ["submit", "--config", svc, "--dry-run"]):
        p = workspace.run(cmd)
        assert p.returncode == 2, must_msg(p, " ".join(cmd[:1]) + " with a service config")
        assert "is a service config" in p.stderr and "driftrun serve --config" in p.stderr and model in p.stderr, \
            p.stderr
    assert not os.path.exists(workspace.path("runs")), "something trained"
    # config prints a service config as such (it printed an experiment's defaults)
    p = workspace.run(["config", "--config", svc])
    assert p.returncode == 0 and "[service]" in p.stdout and "is a service config" in p.stderr, must_msg(p, "config")


def test_serve_and_submit_check_the_step_switches_their_jobs_read(workspace):
    """Found by a stranger: DRIFTRUN_STEP_PIPELINE=maybe passed submit --dry-run
    and serve, and every job then failed. Both refuse it up front (exit 2)."""
    workspace.make_data(workspace.path("data"), "--rows", "300", "--features", "3")
    model = workspace.write_config("sw.toml", f'name = "sw"\n[data]\ntrain = "{workspace.path("data/train.h5")}"\n'
                                              f'[registry]\npath = "{workspace.path("reg")}"\n')
    svc = workspace.write_config("svc-sw.toml", f'[service]\nmodels = ["sw.toml"]\nstate = "{workspace.path("st")}"\n'
                                                'max_batches = 1\n')
    bad = {"DRIFTRUN_STEP_PIPELINE": "maybe"}
    for cmd in (["submit", "--config", model, "--dry-run"], ["serve", "--config", svc]):
        p = workspace.run(cmd, env=bad, timeout=120)
        assert p.returncode == 2 and "DRIFTRUN_STEP_PIPELINE='maybe'" in p.stderr, must_msg(p, cmd[0])
    assert not os.path.exists(workspace.path("st")), "serve started"
