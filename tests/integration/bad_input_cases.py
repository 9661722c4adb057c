"""The bad-input catalogue: every kind of bad input tried on driftrun, what it
must answer (exit code, words of its one message) and what must stay intact.
test_bad_input.py runs each case; tests/BAD_INPUT.md is this list as a table
(`python tests/integration/bad_input_cases.py > tests/BAD_INPUT.md`, checked by
test_catalogue_table_is_up_to_date).

A case is (area, kind, command shown in the table, exit code, words the message
must hold, run(inputs) -> CompletedProcess, optional after(inputs, process)).
`inputs` (test_bad_input.Inputs) makes the files; every case also checks that
nothing crashed (no signal, no core, no abort text), that stderr holds exactly
one `driftrun <command>:` message, and that no `*.tmp.*` file was left behind.
"""
import glob
import json
import os
import resource
import shutil
from dataclasses import dataclass
from typing import Callable, Optional

import h5py
import numpy as np


@dataclass
class Case:
    area: str
    kind: str
    command: str
    code: int
    words: list
    run: Callable
    after: Optional[Callable] = None
    crash: bool = False  # the first run is killed on purpose; `after` checks the recovery


def train(cfg, *extra, ranks=None, env=None):
    return lambda i: i.train(cfg(i), *extra, ranks=ranks, env=env)


def no_run_output(i, p):
    left = glob.glob(f"{i.cwd}/runs/*/checkpoints/*.json") + glob.glob(f"{i.cwd}/runs/*/summary.json")
    assert not left, f"no run output left for --resume auto: {left}"


def fsize_limit(limit):
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return pre


# ---- configs -------------------------------------------------------------------

def _cfg(extra=""):
    return lambda i: i.cfg_for(i.good, extra)


CONFIG = [
    Case("config", "unknown key (typo)", "train --config c.toml", 2, [":7:", "train.lrr", "did you mean 'train.lr'"],
         train(_cfg("lrr = 0.1\n"))),
    Case("config", "unknown section", "train --config c.toml", 2, ["tarin"], train(_cfg("[tarin]\nlr = 0.1\n"))),
    Case("config", "wrong type (string for a number)", "train --config c.toml", 2, [":7:", "train.lr"],
         train(_cfg('lr = "fast"\n'))),
    Case("config", "out of range (val_fraction 1.5)", "train --config c.toml", 2, ["data.val_fraction"],
         train(lambda i: i.cfg_for(i.good, "", data_extra="val_fraction = 1.5\n"))),
    Case("config", "negative memory budget", "train --set data.memory_mb=-1", 2, ["data.memory_mb", ">= 0"],
         train(_cfg(), "--set", "data.memory_mb=-1")),
    Case("config", "stream chunk larger than any file (2^40 rows)", "train --set data.stream_chunk_rows=2^40", 2,
         ["data.stream_chunk_rows", "2^30"], train(_cfg(), "--set", "data.stream_chunk_rows=1099511627776",
                                                   "--set", "data.memory_mb=0.01")),
    Case("config", "learning rate that overflows the weights (NaN validation loss)",
         "train --set train.lr=1e30 --set train.max_steps=1", 4, ["validation loss is", "train.lr"],
         train(_cfg(), "--set", "train.lr=1e30", "--set", "train.max_steps=1")),
    Case("config", "negative epochs", "train --set train.epochs=-3", 2, ["train.epochs"],
         train(_cfg(), "--set", "train.epochs=-3")),
    Case("config", "NaN number", "train --config c.toml", 2, ["train.lr"], train(_cfg("lr = nan\n"))),
    Case("config", "duplicate key", "train --config c.toml", 2, ["epochs"], train(_cfg("epochs = 2\n"))),
    Case("config", "malformed TOML (unclosed table header)", "train --config c.toml", 2, ["c", ":7"],
         train(_cfg("[model\n"))),
    Case("config", "not UTF-8", "train --config c.toml", 2, ["utf-8"],
         lambda i: i.train(i.raw_config(b'name = "\xff\xfe"\n'))),
    Case("config", "empty file (the default data path does not exist)", "train --config empty.toml", 3,
         ["does not exist", "make-data"],
         lambda i: i.train(i.raw_config(b""))),
    Case("config", "config file missing", "train --config nope.toml", 2, ["nope.toml"],
         lambda i: i.train(i.path("nope.toml"))),
    Case("config", "a directory where the config file should be", "train --config DIR", 2, ["is a directory"],
         lambda i: i.train(i.good_dir)),
    Case("config", "relative data path that does not exist (resolved from the config's folder)",
         "train --config c.toml", 3, ["does not exist", "sub/missing.h5"],
         lambda i: i.train(i.cfg_for("sub/missing.h5"))),
    Case("config", "a directory as data.train", "train --config c.toml", 3, ["is a directory"],
         lambda i: i.train(i.cfg_for(i.good_dir))),
    Case("config", "dist.timeout_s = 0", "train --config c.toml", 2, ["dist.timeout_s"],
         train(_cfg("[dist]\ntimeout_s = 0\n"))),
    Case("config", "batch not divisible by ranks", "mpirun -np 3 train", 2, ["does not divide across 3 ranks"],
         train(_cfg(), "--set", "train.batch_size=32", ranks=3)),
    Case("config", "bad --set value", "train --set train.epochs=many", 2, ["--set", "integer"],
         train(_cfg(), "--set", "train.epochs=many")),
    Case("config", "unknown flag", "train --epochs 3", 2, ["unknown flag '--epochs'"],
         train(_cfg(), "--epochs", "3")),
    Case("config", "--config missing", "train", 2, ["--config FILE is required"], lambda i: i.run(["train"])),
    Case("config", "an empty flag value", "train --run-dir=", 2, ["--run-dir", "empty"],
         lambda i: i.run(["train", "--config", i.cfg_for(i.good), "--run-dir="])),
    Case("config", "absurd thread count (100000)", "train --set train.threads=100000", 2, ["train.threads"],
         train(_cfg(), "--set", "train.threads=100000")),
]

# ---- HDF5 data -------------------------------------------------------------------


def _data(make):
    return lambda i: i.train(i.cfg_for(make(i)))


HDF5 = [
    Case("hdf5", "file missing", "train", 3, ["nope.h5", "does not exist"], _data(lambda i: i.path("nope.h5"))),
    Case("hdf5", "not an HDF5 file (text)", "train", 3, ["not an HDF5 file"],
         _data(lambda i: i.raw("text.h5", b"x,y\n1,2\n"))),
    Case("hdf5", "empty file (0 bytes)", "train", 3, ["not an HDF5 file"], _data(lambda i: i.raw("zero.h5", b""))),
    Case("hdf5", "truncated file", "train", 3, ["truncated"], _data(lambda i: i.truncated())),
    Case("hdf5", "wrong dataset name", "train --set data.features=/feats", 3, ["/feats", "does not exist"],
         train(_cfg(), "--set", "data.features=/feats")),
    Case("hdf5", "1-D features", "train", 3, ["2-D"],
         _data(lambda i: i.write_h5("flat.h5", features=i.X[:, 0], labels=i.Y))),
    Case("hdf5", "3-D features", "train", 3, ["2-D"],
         _data(lambda i: i.write_h5("cube.h5", features=i.X.reshape(600, 2, 2), labels=i.Y))),
    Case("hdf5", "string features (wrong dtype)", "train", 3, ["/features"],
         _data(lambda i: i.write_h5("str.h5", features=np.array([[b"a"] * 4] * 600), labels=i.Y))),
    Case("hdf5", "labels/features row mismatch", "train", 3, ["593 rows", "600"],
         _data(lambda i: i.write_h5("short.h5", features=i.X, labels=i.Y[:-7]))),
    Case("hdf5", "NaN label", "train", 3, ["row 5", "NaN"],
         _data(lambda i: i.write_h5("nanlabel.h5", features=i.X, labels=i.y_with(5, np.nan)))),
    Case("hdf5", "regression label 1e30 (was exit 4, 'loss is Inf')", "train", 3, ["row 9", "too large"],
         _data(lambda i: i.write_h5("hugelabel.h5", features=i.X, labels=i.y_with(9, 1e30)))),
    Case("hdf5", "empty dataset (0 rows)", "train", 3, ["no rows"],
         _data(lambda i: i.write_h5("empty.h5", features=np.zeros((0, 4), np.float32),
                                    labels=np.zeros(0, np.float32)))),
    Case("hdf5", "all-NaN column", "mpirun -np 2 train", 3, ["f2", "all NaN"],
         lambda i: i.train(i.cfg_for(i.write_h5("nancol.h5", features=i.x_with(slice(None), 2, np.nan),
                                                labels=i.Y)), ranks=2)),
    Case("hdf5", "a feature name used twice", "train", 3, ["names column 'f1' twice"],
         _data(lambda i: i.named_h5("dupnames.h5", ["f0", "f1", "f1", "f3"]))),
    Case("hdf5", "huge declared dimensions (2^40 rows, nothing written)", "train", 3, ["/features"],
         _data(lambda i: i.huge())),
    Case("hdf5", "compressed with h5py's own LZF filter", "train", 3, ["lzf", "gzip"],
         _data(lambda i: i.lzf())),
    Case("hdf5", "chunked dataset with half its chunks never written", "train", 3,
         ["/features", "never (fully) written"], _data(lambda i: i.half_written())),
    Case("hdf5", "float labels for classification", "train", 3, ["integer", "classification"],
         lambda i: i.train(i.cfg_for(i.good, '[model]\ntask = "classification"\n'))),
    Case("hdf5", "batch larger than the data", "train --set train.batch_size=6000", 3,
         ["fewer than train.batch_size"], train(_cfg(), "--set", "train.batch_size=6000")),
    Case("hdf5", "drift: current batch with other columns", "drift --reference a.h5 --current b.h5", 3,
         ["feature names differ"], lambda i: i.run(["drift", "--reference", i.good, "--current",
                                   i.write_h5("renamed.h5", features=i.X[:, :3])])),
    Case("hdf5", "predict: output is the input", "predict --in x.h5 --out x.h5", 2, ["--out"],
         lambda i: i.run(["predict", "--run", i.trained(), "--in", i.good, "--out", i.good])),
    Case("hdf5", "drift: --reference and --current swapped", "drift --reference b.h5 --current ref.profile.h5", 2,
         ["is a reference profile", "give it as --reference"], lambda i: _swapped_drift(i)),
]


def _swapped_drift(i):
    prof = i.path("swapped.profile.h5")
    p = i.run(["profile", "--in", i.good, "--out", prof])
    assert p.returncode == 0, p.stderr
    return i.run(["drift", "--reference", i.good, "--current", prof])


# ---- a run folder named by hand ---------------------------------------------------

def _foreign_folder(i):
    """A folder of the user's: a page, a metrics file and a model of their own."""
    d = i.fresh("mine")
    os.makedirs(d)
    for name, text in (("report.html", "<html>my dashboard</html>"), ("metrics.jsonl", '{"mine": 1}\n'),
                       ("model.onnx", "my model")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


def _untouched(i, p):
    d = i.last_foreign
    assert sorted(os.listdir(d)) == ["metrics.jsonl", "model.onnx", "report.html"], os.listdir(d)
    assert open(os.path.join(d, "metrics.jsonl")).read() == '{"mine": 1}\n'
    assert open(os.path.join(d, "report.html")).read() == "<html>my dashboard</html>"


def _train_into_foreign(*extra):
    def run(i):
        i.last_foreign = _foreign_folder(i)
        return i.train(i.cfg_for(i.good), "--run-dir", i.last_foreign, *extra)
    return run


def _own_names(i, *extra):
    d = i.last_own = i.fresh("own")
    os.makedirs(os.path.join(d, "checkpoints"))
    for name, text in (("checkpoints/epoch10.pt", "weights"), ("events.jsonl", '{"mine": 1}\n'),
                       ("config.resolved.toml", '{"mine": true}\n'), ("train.py", "print(1)\n")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    i.own_before = _tree(d)
    return i.train(i.cfg_for(i.good), "--run-dir", d, *extra)


def _own_lock(i):
    d = i.last_own = i.fresh("ownlock")
    os.makedirs(d)
    with open(os.path.join(d, "run.lock"), "w") as f:
        f.write("my lock content\n")
    i.own_before = _tree(d)
    return i.train(i.cfg_for(i.good), "--run-dir", d)


def _tree(d):
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            out[os.path.relpath(os.path.join(root, f), d)] = open(os.path.join(root, f), "rb").read()
    return out


def _own_kept(i, p):
    assert _tree(i.last_own) == i.own_before, sorted(_tree(i.last_own))


def _data_folder_untouched(i, p):
    assert sorted(os.listdir(i.good_dir)) == sorted(i.good_listing), os.listdir(i.good_dir)


RUN_FOLDER = [
    # Found by a stranger: files of the user's were replaced (report.html,
    # model.onnx) or appended to (metrics.jsonl), exit 0.
    Case("run folder", "--run-dir: a folder of the user's that holds no run", "train --run-dir mine/", 2,
         ["holds no run but is not empty", "metrics.jsonl, model.onnx, report.html", "new or empty folder"],
         _train_into_foreign(), _untouched),
    Case("run folder", "--run-dir: a folder of the user's, with --overwrite", "train --run-dir mine/ --overwrite", 2,
         ["holds no run but is not empty"], _train_into_foreign("--overwrite"), _untouched),
    Case("run folder", "--run-dir: a folder of the user's, with --resume auto", "train --run-dir mine/ --resume auto",
         2, ["holds no run but is not empty"], _train_into_foreign("--resume", "auto"), _untouched),
    Case("run folder", "--run-dir: the data folder", "train --run-dir data/", 2, ["holds no run", "train.h5"],
         lambda i: (setattr(i, "good_listing", os.listdir(i.good_dir)),
                    i.train(i.cfg_for(i.good), "--run-dir", i.good_dir))[1], _data_folder_untouched),
    # Found by a stranger (round 3): a checkpoints/ folder, events.jsonl or
    # config.resolved.toml of the user's made it "a run", and --overwrite
    # deleted them; a run.lock of theirs was taken over and deleted.
    Case("run folder", "--overwrite: a folder with a checkpoints/ of the user's", "train --run-dir mine/ --overwrite",
         2, ["holds no run but is not empty", "checkpoints"], lambda i: _own_names(i, "--overwrite"), _own_kept),
    Case("run folder", "--run-dir: a folder with only a run.lock of the user's", "train --run-dir mine/", 2,
         ["holds no run but is not empty", "run.lock"], lambda i: _own_lock(i), _own_kept),
    Case("run folder", "export --run names a file", "export --run data/train.h5", 2,
         ["is a file, not a run folder"], lambda i: i.run(["export", "--run", i.good, "--out", i.path("x.onnx")])),
]
for c in CONFIG + HDF5 + RUN_FOLDER:
    if c.command.startswith(("train", "mpirun")) and c.after is None:
        c.after = no_run_output

# ---- checkpoints -------------------------------------------------------------------


def _resume_from(damage):
    """Copies the trained run, damages its newest checkpoint with damage(h5, json)
    and resumes from it."""
    def run(i):
        d = i.copy_run()
        h5, js = sorted(glob.glob(f"{d}/checkpoints/*.h5"))[-1], sorted(glob.glob(f"{d}/checkpoints/*.json"))[-1]
        damage(i, h5, js)
        return i.train(i.trained_cfg, "--resume", js, "--run-dir", d)
    return run


def _truncate(i, h5, js):
    with open(h5, "r+b") as f:
        f.truncate(os.path.getsize(h5) // 2)


def _flip_weight(i, h5, js):
    with h5py.File(h5, "r+") as f:
        w = f["model/layers.0.weight"]
        w[0, 0] = w[0, 0] + 1.0


def _drop_optimizer(i, h5, js):
    """The optimizer state removed and the manifest's checksum made to match: a
    checkpoint from a broken writer, not a damaged file."""
    with h5py.File(h5, "r+") as f:
        del f["optim"]
    i.rehash(h5, js)


def _garbage_manifest(i, h5, js):
    with open(js, "w") as f:
        f.write('{"format": "driftrun-checkpoint-1", "step": "ten", ')


def _loose_checkpoint(i):
    """A checkpoint manifest copied out of its run folder: no config to read the inputs with."""
    d = i.copy_run()
    loose = i.path("loose.json")
    shutil.copyfile(sorted(glob.glob(f"{d}/checkpoints/*.json"))[-1], loose)
    return i.run(["predict", "--checkpoint", loose, "--in", i.good, "--out", i.path("loose-out.h5")])


CHECKPOINTS = [
    Case("checkpoint", "truncated checkpoint file", "train --resume CKPT.json", 3, ["checkpoint"],
         _resume_from(_truncate)),
    Case("checkpoint", "weights altered (checksum mismatch)", "train --resume CKPT.json", 3, ["sha256"],
         _resume_from(_flip_weight)),
    Case("checkpoint", "optimizer state missing (checksum matches)", "train --resume CKPT.json", 3, ["optim"],
         _resume_from(_drop_optimizer)),
    Case("checkpoint", "manifest not JSON", "train --resume CKPT.json", 3, ["CKPT" if False else "json"],
         _resume_from(_garbage_manifest)),
    Case("checkpoint", "checkpoint of another model (other config)", "train --resume RUN --set model.hidden=[8]",
         2, ["model.hidden"],
         lambda i: i.train(i.trained_cfg, "--resume", i.copy_run(), "--set", "model.hidden=[8]")),
    Case("checkpoint", "predict from a truncated checkpoint", "predict --run RUN", 3, ["checkpoint"],
         lambda i: i.predict_damaged(_truncate)),
    Case("checkpoint", "export a checkpoint that does not exist", "export --checkpoint nope.json", 2,
         ["does not exist"],
         lambda i: i.run(["export", "--checkpoint", i.path("nope.json"), "--out", i.path("nope.onnx")])),
    Case("checkpoint", "predict from a manifest outside its run folder", "predict --checkpoint loose.json", 2,
         ["checkpoints/"], _loose_checkpoint),
]

# ---- registry -------------------------------------------------------------------

REGISTRY = [
    Case("registry", "bad model name (space)", "train --set name='a b'", 2, ["name 'a b'"],
         lambda i: i.train(i.trained_cfg, "--set", "name=a b", "--set", "registry.register=true")),
    Case("registry", "unknown model reference", "predict --model nosuch:1", 2, ["nosuch"],
         lambda i: i.run(["predict", "--model", "nosuch:1", "--registry", i.registry(), "--in", i.good,
                          "--out", i.path("o.h5")])),
    Case("registry", "malformed model reference", "registry show 'm::x'", 2, ["m::x"],
         lambda i: i.run(["registry", "show", "m::x", "--registry", i.registry()])),
    Case("registry", "registry folder missing", "registry list --registry nope", 2, ["nope"],
         lambda i: i.run(["registry", "list", "--registry", i.path("nope-registry")])),
    Case("registry", "registry.db is not a database", "registry list", 2, ["registry.db"],
         lambda i: i.run(["registry", "list", "--registry", i.fake_registry()])),
    Case("registry", "database locked by another writer", "registry promote (lock held)", 5, ["locked"],
         lambda i: i.with_db_locked(lambda reg: i.run(
             ["registry", "approve", "bad:1", "--by", "alice", "--registry", reg], env={"DRIFTRUN_REGISTRY_BUSY_MS":
                                                                                        "300"}))),
    Case("registry", "artifact missing (model.onnx deleted)", "registry promote bad:1", 3, ["artifacts are damaged", "is missing"],
         lambda i: i.run(["registry", "promote", "bad:1", "--alias", "production", "--by", "alice",
                          "--registry", i.registry(damage="rm-onnx")])),
    Case("registry", "read-only registry folder", "registry register (read-only)", 5, ["registry"],
         lambda i: i.run(["registry", "register", "--run", i.trained(), "--registry", i.registry(damage="ro")])),
]

# ---- disk -------------------------------------------------------------------


def _disk_full_checkpoint(i):
    d = i.copy_run()
    return i.train(i.trained_cfg, "--resume", "auto", "--run-dir", d, preexec=fsize_limit(20_000))


def _previous_checkpoint_intact(i, p):
    d = i.last_copy
    assert sorted(glob.glob(f"{d}/checkpoints/*.json")) == i.copied_manifests, "checkpoints unchanged"
    q = i.train(i.trained_cfg, "--resume", "auto", "--run-dir", d)
    assert q.returncode == 0, f"resume after the full disk: {q.stderr[-800:]}"


def _kill_mid_write(what, cmd):
    def run(i):
        env = {"DRIFTRUN_FAULT_KILL_BEFORE_COMMIT": what}
        if cmd == "train":
            d = i.copy_run()
            return i.train(i.trained_cfg, "--resume", "auto", "--run-dir", d, env=env)
        d = i.copy_run(finished=True)
        i.onnx_before = i.sha(f"{d}/model.onnx")
        return i.run(["export", "--run", d], env=env)
    return run


def _recovers(cmd):
    def after(i, p):
        d = i.last_copy
        if cmd == "export":
            assert i.sha(f"{d}/model.onnx") == i.onnx_before, "the previous model.onnx is intact"
        for m in glob.glob(f"{d}/checkpoints/*.json"):
            assert json.load(open(m))["step"] >= 0  # every manifest left is whole JSON
        again = ["train", "--config", i.trained_cfg, "--resume", "auto", "--run-dir", d,
                 "--quiet"] if cmd == "train" else ["export", "--run", d]
        q = i.run(again)
        assert q.returncode == 0, f"the next {cmd} recovers: {q.stderr[-800:]}"
        assert not glob.glob(f"{d}/**/*.tmp.*", recursive=True), "the next start removes the dead writer's files"
    return after


DISK = [
    Case("disk", "disk full (RLIMIT_FSIZE) while writing a checkpoint", "train (file size limit)", 5,
         ["file size limit"], _disk_full_checkpoint, _previous_checkpoint_intact),
    Case("disk", "disk full while writing predictions", "predict (file size limit)", 5, ["file size limit"],
         lambda i: i.run(["predict", "--run", i.trained(), "--in", i.big(), "--out", i.path("pred.h5")],
                         preexec=fsize_limit(20_000)),
         lambda i, p: not os.path.exists(i.path("pred.h5")) or (_ for _ in ()).throw(
             AssertionError("no half-written predictions"))),
    Case("disk", "output folder does not exist", "predict --out nodir/p.h5", 2, ["nodir", "does not exist"],
         lambda i: i.run(["predict", "--run", i.trained(), "--in", i.good, "--out", i.path("nodir/p.h5")])),
]

SIGNALS = [
    Case("signal", "killed (SIGKILL) in the middle of a checkpoint write", "train; train --resume auto", 0, [],
         _kill_mid_write("ckpt-", "train"), _recovers("train"), crash=True),
    Case("signal", "killed (SIGKILL) in the middle of the ONNX export", "export; export", 0, [],
         _kill_mid_write("model.onnx", "export"), _recovers("export"), crash=True),
]

# ---- the retraining service ----------------------------------------------------------

def _model(i, extra=""):
    """A model config the service can keep (it needs [registry] path)."""
    return i.cfg_for(i.good, extra + f'[registry]\npath = "{i.path("svc-reg")}"\n')


def _nodata(i):
    return [i.ws.write_config("nodata.toml", f'name = "nd"\n[data]\ntrain = "{i.path("nosuch.h5")}"\n'
                                             '[registry]\npath = "r"\n')]


def _svc(i, models=None, extra=""):
    """A service config listing `models` (default: one good model config)."""
    models = [_model(i)] if models is None else models
    listed = ", ".join(f'"{m}"' for m in models)
    return i.ws.write_config(os.path.basename(i.fresh("svc")) + ".toml",
                             f'[service]\nmodels = [{listed}]\nstate = "{i.fresh("state")}"\n{extra}')


def _serve(models=None, *flags, extra=""):
    return lambda i: i.run(["serve", "--config", _svc(i, models(i) if models else None, extra)] + list(flags))


def _self_listed(i):
    path = i.path("self-svc.toml")
    with open(path, "w") as f:
        f.write(f'[service]\nmodels = ["{path}"]\n')
    return i.run(["serve", "--config", path])


SERVICE = [
    Case("service", "service config lists no models", "serve (models = [])", 2, ["lists no models"],
         _serve(lambda i: [])),
    Case("service", "a model config that does not exist", "serve (models = [nosuch.toml])", 2,
         ["service.models", "nosuch.toml"], _serve(lambda i: [i.path("nosuch.toml")])),
    Case("service", "two model configs with one name", "serve (two configs, name = \"bad\")", 2,
         ["both train model 'bad'"], _serve(lambda i: [_model(i), _model(i)])),
    Case("service", "service config lists itself", "serve (models = [itself])", 2, ["names the service config"],
         _self_listed),
    Case("service", "a model config given as the service config", "serve --config model.toml", 2,
         ["is a model (experiment) config", "not a service config"],
         lambda i: i.run(["serve", "--config", _model(i)])),
    Case("service", "monitor.incoming is a file", "serve (monitor.incoming = a file)", 2, ["is a file"],
         _serve(lambda i: [_model(i, f'[monitor]\nincoming = "{i.good}"\n')])),
    Case("service", "the slurm executor with no reachable cluster", "serve --executor slurm (SLURM_CONF: none)", 5,
         ["--executor slurm", "squeue", "SLURM_CONF"],
         lambda i: i.run(["serve", "--config", _svc(i, None, ""), "--executor", "slurm"],
                         env={"SLURM_CONF": i.path("no-such-slurm.conf")})),
    Case("service", "an executor that does not exist", "serve --executor lcoal", 2, ["unknown executor 'lcoal'"],
         _serve(None, "--executor", "lcoal")),
    Case("service", "retrain.ranks that does not divide the batch size",
         "serve --set retrain.ranks=5 --set train.batch_size=64", 2, ["retrain.ranks = 5", "train.batch_size = 64"],
         _serve(None, "--set", "retrain.ranks=5", "--set", "train.batch_size=64")),
    # Found by a stranger: `config` said a model config was fine that serve then refused.
    Case("service", "a negative retrain window, checked by config", "config --set retrain.window=-1", 2,
         ["retrain.window", ">= 0"], lambda i: i.run(["config", "--config", _model(i), "--set", "retrain.window=-1"])),
    Case("service", "a model config without [registry] path, checked by config",
         "config --set monitor.incoming=\"in\"", 2, ["as a model config for driftrun serve", "has no [registry] path"],
         lambda i: i.run(["config", "--config", i.cfg_for(i.good), "--set", 'monitor.incoming="in"'])),
    Case("service", "a heartbeat timeout too short to work", "serve --set service.heartbeat_timeout_s=0.05", 2,
         ["service.heartbeat_timeout_s"], _serve(None, "--set", "service.heartbeat_timeout_s=0.05")),
    Case("service", "the pool executor without mpirun", "serve --executor pool", 2,
         ["mpirun -np N driftrun serve --executor pool", "--executor local"], _serve(None, "--executor", "pool")),
    Case("service", "metrics on a non-loopback address", "serve --set service.metrics=0.0.0.0:9464", 2,
         ["metrics_allow_remote"], _serve(None, "--set", "service.metrics=0.0.0.0:9464")),
    Case("service", "metrics address without a port", "serve --set service.metrics=\"localhost\"", 2,
         ["host:port"], _serve(None, "--set", 'service.metrics="localhost"')),
    Case("service", "negative --max-batches", "serve --max-batches -5", 2, ["--max-batches"],
         _serve(None, "--max-batches", "-5")),
    Case("service", "a model config without [registry] path", "serve (model without [registry])", 2,
         ["has no [registry] path"], _serve(lambda i: [i.cfg_for(i.good)])),
    Case("service", "a model config whose data.train does not exist", "serve (data.train = nosuch.h5)", 2,
         ["data.train", "nosuch.h5", "does not exist"], _serve(_nodata)),
    Case("service", "a model config whose task does not fit its training data",
         "serve (model.task = \"classification\" on regression data)", 2, ["its own training data", "labels"],
         _serve(lambda i: [_model(i, '[model]\ntask = "classification"\n')])),
    Case("service", "a model config train would refuse", "serve --set train.lr=-1", 2, ["train.lr"],
         _serve(None, "--set", "train.lr=-1")),
    Case("service", "state folder is a file", "serve (service.state = a file)", 2, ["is a file"],
         lambda i: i.run(["serve", "--config", _svc(i, extra="")] + ["--set", f"service.state={i.good}"])),
    Case("service", "a stray argument", "serve extra", 2, ["unexpected argument 'extra'"],
         _serve(None, "extra")),
    Case("service", "signal for a model the service does not keep", "signal --model nosuch", 2,
         ["not in service.models"],
         lambda i: i.run(["signal", "--config", _svc(i), "--model", "nosuch", "--reason", "x"])),
    Case("service", "stop a job before the service ever ran", "signal --stop 1", 2, ["no journal"],
         lambda i: i.run(["signal", "--config", _svc(i), "--stop", "1"])),
    Case("service", "stop together with a model", "signal --stop 1 --model m", 2, ["takes no --model"],
         lambda i: i.run(["signal", "--config", _svc(i), "--stop", "1", "--model", "m"])),
    Case("service", "stop job 0", "signal --stop 0", 2, ["--stop takes a job id"],
         lambda i: i.run(["signal", "--config", _svc(i), "--stop", "0"])),
    Case("service", "status before the service ever ran", "status", 2, ["no journal", "has the service run"],
         lambda i: i.run(["status", "--config", _svc(i)])),
    Case("service", "replay of a folder that does not exist", "replay --batches nodir", 2, ["--batches"],
         lambda i: i.run(["replay", "--config", _svc(i), "--batches", i.path("nodir")])),
    Case("service", "replay before any registry exists", "replay --batches good/", 2,
         ["does not exist", "[registry] path"],
         lambda i: i.run(["replay", "--config", _svc(i), "--batches", i.good_dir])),
    Case("service", "a signal to a state folder that does not exist", "signal (service.state mistyped)", 2,
         ["no journal", "service.state"],
         lambda i: i.run(["signal", "--config", _svc(i), "--model", "bad", "--reason", "x"])),
]

ALL = CONFIG + HDF5 + RUN_FOLDER + CHECKPOINTS + REGISTRY + DISK + SIGNALS + SERVICE


def markdown():
    lines = ["# Bad input, catalogued", "",
             "Generated from `tests/integration/bad_input_cases.py` (each row is a test in",
             "`tests/integration/test_bad_input.py`): the input, the command, the exit code",
             "(README, Exit codes: 2 usage/config, 3 data, 4 training, 5 infrastructure) and words",
             "the one message must hold. Every case also checks: no crash or core dump, one",
             "message, no `*.tmp.*` file left, and (where it says) nothing half-written.",
             f"{len(ALL)} kinds.", "",
             "| area | bad input | command | exit | the message holds |",
             "| --- | --- | --- | --- | --- |"]
    for c in ALL:
        words = ", ".join(f"`{w}`" for w in c.words) if c.words else "(killed on purpose; the next run recovers)"
        exit_ = "killed, then 0" if c.crash else str(c.code)
        lines.append(f"| {c.area} | {c.kind} | `{c.command}` | {exit_} | {words} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
