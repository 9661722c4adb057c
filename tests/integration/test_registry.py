#!/usr/bin/env python3
"""The model registry with a real SQLite file and artifact folder.

Registration from `driftrun train` ([registry] register = true) and from
`driftrun registry register`: idempotent per run, distinct versions for two
processes registering at once, an intact database afterwards; promote, approve,
rollback and their refusals; names with '/' or '..' refused; a truncated or
altered artifact caught by `verify` and by `predict --model`; the record's
lineage equals the ONNX file's metadata_props.
"""
# The tests below share one registry and run in the order they are written:
# each later block (promotion, rollback, damaged artifacts) works on the state
# the blocks before it left, as the steps of one registry's life.
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess

import h5py
import numpy as np
import pytest

import onnx_check
from harness import must_msg


class Registry:
    def __init__(self, ws):
        self.ws = ws
        self.reg = ws.path("reg")
        self.data = ws.path("data")
        ws.make_data(self.data, "--rows", "2000", "--features", "5")

    def path(self, *parts):
        return self.ws.path(*parts)

    def config(self, name, extra=""):
        return self.ws.write_config(f"{name}.toml", f"""
name = "{name}"
[data]
train = "{self.data}/train.h5"
[model]
hidden = [16]
[train]
epochs = 8
batch_size = 64
lr = 5e-3
[registry]
path = "{self.reg}"
{extra}
""")

    def train(self, cfg, run, *sets):
        p = self.ws.run(["train", "--config", cfg, "--run-dir", run, "--quiet", "--noprogress"] +
                        [x for s in sets for x in ("--set", s)])
        assert p.returncode == 0, must_msg(p, f"train {os.path.basename(run)}")
        return p

    def registry(self, *args):
        return self.ws.run(["registry", "--registry", self.reg] + list(args))

    def show(self, ref):
        p = self.registry("show", ref, "--json")
        return json.loads(p.stdout) if p.returncode == 0 else None


@pytest.fixture(scope="module")
def r(module_workspace):
    return Registry(module_workspace)


@pytest.fixture(scope="module")
def run1(r):
    """run1 trained with register = true and a --trigger: (process, churn:1's record)."""
    cfg = r.config("churn", "register = true")
    p = r.ws.run(["train", "--config", cfg, "--run-dir", r.path("run1"), "--quiet", "--noprogress", "--trigger",
                  "drift/report-17.json"])
    return p, r.show("churn:1")


def test_train_registers_churn_1(run1):
    p, v1 = run1
    assert p.returncode == 0, must_msg(p, "train run1 (register = true, --trigger)")
    assert v1 is not None and v1["run_id"].startswith("run1-"), \
        f"train with register = true registers churn:1: {v1 and v1['run_id']}"
    assert v1 is not None and v1["aliases"] == ["candidate"], \
        f"churn:1 holds alias candidate: {v1 and v1['aliases']}"


@pytest.mark.parametrize("field", ("metrics", "config", "data_fingerprint", "code_version", "libraries", "seed",
                                   "world_size", "parent_version", "trigger", "created", "approvals",
                                   "artifacts"))
def test_record_has_field(run1, field):
    _, v1 = run1
    assert v1 is not None and field in v1, f"record has '{field}': {v1 and sorted(v1)}"


def test_record_artifacts_and_libraries(run1):
    _, v1 = run1
    assert v1 and set(v1["artifacts"]) >= {"onnx", "checkpoint", "profile", "report"}, \
        f"artifacts: onnx, checkpoint, profile, report: {v1 and v1['artifacts'].keys()}"
    assert v1 and {"libtorch", "mpi", "cuda", "nccl"} <= set(v1["libraries"]), \
        f"library versions recorded: {v1 and v1['libraries']}"


def test_lineage_equals_onnx_metadata(run1):
    """Lineage: record == ONNX metadata_props."""
    _, v1 = run1
    assert v1 is not None, "churn:1 registered (see test_train_registers_churn_1)"
    meta = onnx_check.metadata(v1["artifacts"]["onnx"]["path"])
    assert (meta.get("driftrun.registry_name") == "churn" and meta.get("driftrun.registry_version") == "1" and
            meta.get("driftrun.config_hash") == v1["config_hash"] and
            meta.get("driftrun.data_fingerprint") == v1["data_fingerprint"] and
            meta.get("driftrun.code_version") == v1["code_version"] and
            meta.get("driftrun.trigger") == v1["trigger"] == "drift/report-17.json" and
            v1["parent_version"] is None and meta.get("driftrun.parent_version") == ""), \
        f"ONNX metadata_props agree with the registry record: {meta}"


def test_register_is_idempotent(r, run1):
    """The same run again gives the same version."""
    p = r.registry("register", "--run", r.path("run1"))
    assert p.returncode == 0 and "churn:1" in p.stdout, \
        f"registering run1 again gives churn:1 again: {p.stdout + p.stderr}"


@pytest.fixture(scope="module")
def cfg_nr(r):
    return r.config("churn", "register = false")


@pytest.fixture(scope="module")
def concurrent(r, run1, cfg_nr):
    """run2 and run3 (barely trained: worse) registered by two processes at once:
    (the processes, their (stdout, stderr))."""
    r.train(cfg_nr, r.path("run2"), "train.seed=1")
    r.train(cfg_nr, r.path("run3"), "train.seed=2", "train.max_steps=1")
    procs = [subprocess.Popen([r.ws.driftrun, "registry", "--registry", r.reg, "register", "--run", r.path(x)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for x in ("run2", "run3")]
    outs = [pr.communicate(timeout=300) for pr in procs]
    return procs, outs


def test_concurrent_registrations(concurrent):
    """Two processes registering at the same time."""
    procs, outs = concurrent
    assert all(pr.returncode == 0 for pr in procs), f"two concurrent registrations succeed: {outs}"
    versions = sorted(int(o[0].split("churn:")[1].split()[0]) for o in outs if "churn:" in o[0])
    assert versions == [2, 3], f"they got distinct versions {versions}"


def test_database_intact(r, concurrent):
    db = sqlite3.connect(os.path.join(r.reg, "registry.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "database intact (integrity_check ok)"
        count = db.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
        assert count == 3, f"three versions stored (got {count})"
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal", f"database in WAL mode (got {mode})"
        try:
            db.execute("UPDATE versions SET run_id = 'x' WHERE version = 1")
            db.commit()
            refused = False
        except sqlite3.DatabaseError:
            refused = True
        assert refused, "versions are immutable (UPDATE refused)"
    finally:
        db.close()


# ---- promote, gate, approval, rollback ---------------------------------------------

@pytest.fixture(scope="module")
def candidates(r, concurrent):
    """(good, bad): the concurrent registrations may have numbered run2 and run3
    either way round."""
    by_run = {r.show(f"churn:{v}")["run_dir"].rsplit("/", 1)[-1]: v for v in (2, 3)}
    return f"churn:{by_run['run2']}", f"churn:{by_run['run3']}", by_run


def test_promote_and_gate_refusals(r, candidates):
    p = r.registry("promote", "churn:1", "--alias", "production", "--by", "ann")
    assert p.returncode == 0, must_msg(p, "promote churn:1 to production")
    _, bad, _ = candidates
    p = r.registry("promote", bad, "--alias", "production")
    assert p.returncode == 2 and "--by" in p.stderr, must_msg(p, "promote without --by")
    p = r.registry("promote", bad, "--alias", "production", "--by", "ann")
    assert p.returncode == 4 and p.stderr.startswith("driftrun registry: promotion refused: ") and "both on the candidate's holdout" in p.stderr, \
        f"promotion gate refuses a worse candidate, both evaluated on its holdout (exit 4): " \
        f"(exit {p.returncode}) {p.stdout + p.stderr}"
    p = r.registry("promote", bad, "--alias", "production", "--gate", "recorded", "--by", "ann")
    assert p.returncode == 4 and "as recorded" in p.stderr, \
        f"--gate recorded refuses it on the recorded losses: (exit {p.returncode}) {p.stdout + p.stderr}"
    assert r.show("churn@production")["version"] == 1, "production unchanged after a refusal"


def test_approval_then_promote(r, candidates):
    """The policy lives in the registry: a --config that relaxes it is ignored,
    one that names the model differently does not apply, a spelling of the gated
    alias is the gated alias."""
    good, _, by_run = candidates
    p = r.registry("policy", "churn", "--require-approval", "true", "--tolerance", "10", "--by", "boss",
                   "--reason", "four eyes")
    assert p.returncode == 0 and "require approval:  yes" in p.stdout, must_msg(p, "policy")
    lax = r.ws.write_config("lax.toml", f'name = "churn"\n[registry]\npath = "{r.reg}"\n'
                                        'require_approval = false\ntolerance = 10.0\n')
    p = r.ws.run(["registry", "--config", lax, "promote", good, "--alias", "production", "--by", "mallory"])
    assert p.returncode == 4 and "approv" in p.stderr and "ignored" in p.stderr, \
        f"a lax --config does not bypass the stored policy: (exit {p.returncode}) {p.stdout + p.stderr}"
    p = r.registry("promote", good, "--alias", "Production", "--by", "mallory")
    assert p.returncode == 4 and "approv" in p.stderr, must_msg(p, "--alias Production is the gated production")
    p = r.registry("approve", good, "--by", "bob", "--note", "checked the holdout")
    assert p.returncode == 0, must_msg(p, f"approve {good}")
    p = r.registry("approve", good, "--by", "bob", "--note", "twice")
    assert p.returncode == 0 and "already approved" in p.stdout, must_msg(p, "approve twice")
    p = r.registry("approve", good, "--by", "BOB")
    assert p.returncode == 0 and "already approved" in p.stdout and "by bob" in p.stdout \
        and "without case" in p.stdout, must_msg(p, "approve again as BOB: the name first approved")
    assert len(r.show(good)["approvals"]) == 1
    p = r.registry("promote", good, "--alias", "production", "--by", "bob", "--reason", "approved retrain")
    assert p.returncode == 0 and "gate: holdout loss" in p.stdout, must_msg(p, f"approved {good} promoted")
    assert r.show("churn@production")["version"] == by_run["run2"], f"production -> {good}"
    p = r.registry("promote", good, "--alias", "production", "--by", "bob")
    assert p.returncode == 0 and "already holds" in p.stdout, must_msg(p, "promote the holder again")


def test_gate_holdout_loss_equals_recorded(r, candidates):
    """The gate's fresh evaluation of the candidate on its own holdout equals the
    validation loss its training recorded (same rows, same model)."""
    good, _, _ = candidates
    moves = [e for e in r.show(good)["alias_history"] if e["alias"] == "production" and e["kind"] == "promote"]
    fresh = moves[-1]["details"]["candidate_loss"]
    recorded = r.show(good)["metrics"]["holdout"]["loss"]
    assert abs(fresh - recorded) <= 1e-5 * abs(recorded), \
        f"gate's holdout loss {fresh:.6g} = recorded {recorded:.6g}: {moves[-1]}"


def test_rollback_and_alias_history(r, candidates):
    p = r.registry("rollback", "churn", "--alias", "production", "--by", "ann")
    assert p.returncode == 0 and r.show("churn@production")["version"] == 1, \
        f"rollback moves production back to 1: (exit {p.returncode}) {p.stdout + p.stderr}"
    hist = r.show("churn:1")["alias_history"]
    prod = [e for e in hist if e["alias"] == "production" and e["kind"] != "noop"]
    assert (len(prod) == 3 and prod[1]["who"] == "bob" and prod[1]["why"].startswith("approved retrain") and
            prod[2]["rollback"]), f"every alias move recorded with who and why: {json.dumps(prod)}"
    p = r.registry("rollback", "churn", "--alias", "production", "--by", "ann")
    assert p.returncode == 2, f"rollback past the first holder refused: (exit {p.returncode}) {p.stderr}"
    h = r.registry("history", "churn", "--json")
    assert h.returncode == 0, must_msg(h, "history")
    events = json.loads(h.stdout)
    kinds = [(e["event"], e.get("kind")) for e in events]
    assert ("policy", None) in kinds and ("approval", None) in kinds and ("alias", "rollback") in kinds, kinds
    assert [e["at"] for e in events] == sorted(e["at"] for e in events), "in time order"
    text = r.registry("history", "churn")
    assert text.returncode == 0 and "policy set by boss" in text.stdout and "approval of version" in text.stdout


def test_list_shows_3_versions(r, candidates):
    p = r.registry("list", "--json")
    assert p.returncode == 0 and len(json.loads(p.stdout)) == 3, \
        f"list --json shows 3 versions: (exit {p.returncode}) {p.stdout[-1500:]} {p.stderr[-500:]}"


READ_ONLY = {
    "list": ["registry", "list"],
    "list-model": ["registry", "list", "--model", "churn"],
    "show": ["registry", "show", "churn:1"],
    "verify": ["registry", "verify"],
    "promote": ["registry", "promote", "churn:1", "--alias", "production"],
    "approve": ["registry", "approve", "churn:1", "--by", "ann"],
    "rollback": ["registry", "rollback", "churn", "--alias", "production"],
    "predict": ["predict", "--model", "churn@production", "--in", "x.h5", "--out", "y.h5"],
}


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, ds, fs in os.walk(root) for n in ds + fs)


@pytest.mark.parametrize("where", ("default", "typo", "empty-folder"))
@pytest.mark.parametrize("cmd", sorted(READ_ONLY))
def test_missing_registry_is_not_created(workspace, cmd, where):
    """Only `registry register` (and training with register = true) creates a
    registry: every other command on a missing one exits 2 and writes nothing."""
    args = list(READ_ONLY[cmd])
    path = {"default": "driftrun-registry", "typo": "regstry", "empty-folder": "empty"}[where]
    if where == "empty-folder":
        os.mkdir(workspace.path("empty"))
    if where != "default":
        args[1:1] = ["--registry", path]
    before = _tree(workspace.tmp)
    p = workspace.run(args)
    assert p.returncode == 2 and f"registry not found: {path}" in p.stderr and "register" in p.stderr, \
        f"{' '.join(args)}: exit 2, 'registry not found: {path}' and what to do: (exit {p.returncode}) {p.stderr}"
    assert _tree(workspace.tmp) == before, f"{' '.join(args)} created nothing: {_tree(workspace.tmp)}"


def test_list_of_unknown_model_is_usage_error(r, run1):
    p = r.registry("list", "--model", "nosuch")
    assert p.returncode == 2 and "no model 'nosuch'" in p.stderr, \
        f"list --model nosuch: exit 2 like show: (exit {p.returncode}) {p.stdout + p.stderr}"


def _columns(line):
    return line.split()


def test_list_has_a_header_and_each_trigger(r, candidates):
    p = r.registry("list")
    records = json.loads(r.registry("list", "--json").stdout)
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and lines and _columns(lines[0]) == \
        ["NAME", "VER", "CREATED", "KIND", "HOLDOUT_LOSS", "ALIASES", "APPROVED", "TRIGGER"], \
        f"list prints a header row labelling its columns: (exit {p.returncode}) {p.stdout[:500]}"
    for col in ("CREATED", "KIND", "ALIASES", "TRIGGER"):  # aligned: each column starts where its header does
        at = lines[0].index(col)
        assert all(ln[at - 2:at] == "  " and ln[at] != " " for ln in lines[1:]), f"{col} aligned:\n{p.stdout}"
    rows = {int(_columns(ln)[1]): _columns(ln) for ln in lines[1:]}
    for v in records:
        row = rows.get(v["version"])
        assert row is not None and row[-1] == v["trigger"], \
            f"churn:{v['version']}'s row ends with its trigger {v['trigger']!r}: {row}"
        loss = v["metrics"]["holdout"]["loss"]
        assert float(row[4]) == loss and len(row[4]) <= len(repr(loss)), \
            f"holdout loss printed in shortest round-trip form ({repr(loss)}): {row[4]}"


def _show_fields(text):
    """`key: value` lines of `registry show` (indented ones), key -> value."""
    out = {}
    for ln in text.splitlines():
        if ln.startswith("  ") and ":" in ln:
            k, v = ln.strip().split(":", 1)
            out.setdefault(k, v.strip())
    return out


def test_show_is_readable_and_json_stays_the_contract(r, candidates):
    good, _, _ = candidates
    j = r.show(good)
    p = r.registry("show", good)
    f = _show_fields(p.stdout)
    assert p.returncode == 0 and p.stdout.startswith(good + "\n") and not p.stdout.lstrip().startswith("{"), \
        f"show prints key: value lines by default: (exit {p.returncode}) {p.stdout[:800]}"
    loss = j["metrics"]["holdout"]["loss"]
    assert (f.get("run") == j["run_id"] and f.get("config hash") == j["config_hash"] and
            f.get("trigger") == j["trigger"] and float(f.get("loss", "nan")) == loss and
            f.get("aliases") == (", ".join(j["aliases"]) or "-") and "bob" in f.get("approved by", "")), \
        f"show's lines agree with --json: {f} vs {[j[k] for k in ('run_id', 'aliases', 'trigger')]}"
    for section in ("metrics (holdout):", "lineage:", "artifacts:", "alias history (churn):"):
        assert f"\n{section}\n" in p.stdout, f"show has a '{section}' section: {p.stdout[:1500]}"
    assert "config" in j and "alias_history" in j, "--json keeps the full record (config, alias_history)"


def test_verify_and_list_report_damaged_records(r, candidates):
    """A record that is not JSON and an alias of a missing version: verify names
    both (exit 3); list prints the readable versions and names the bad one (exit 3)."""
    damaged = r.path("reg-damaged")
    shutil.copytree(r.reg, damaged)
    db = sqlite3.connect(os.path.join(damaged, "registry.db"))
    db.executescript("DROP TRIGGER versions_immutable;"
                     "UPDATE versions SET record = '{\"metrics\": ' WHERE version = 2;"
                     "INSERT INTO aliases VALUES('churn', 'shadow', 9);")
    db.close()
    p = r.ws.run(["registry", "--registry", damaged, "verify"])
    assert p.returncode == 3 and "churn:2" in p.stdout and "'@shadow' points at version 9" in p.stdout, \
        f"verify reports a corrupt record and a dangling alias (exit 3): (exit {p.returncode}) {p.stdout + p.stderr}"
    p = r.ws.run(["registry", "--registry", damaged, "list"])
    versions = sorted(int(_columns(ln)[1]) for ln in p.stdout.splitlines()[1:])
    assert p.returncode == 3 and versions == [1, 3] and "churn:2" in p.stderr, \
        f"list shows the readable versions and names the corrupt one (exit 3): " \
        f"(exit {p.returncode}) {p.stdout + p.stderr}"
    p = r.ws.run(["registry", "--registry", damaged, "list", "--json"])
    assert p.returncode == 3 and [v["version"] for v in json.loads(p.stdout)] == [1, 3], \
        f"list --json: valid JSON of the readable versions: (exit {p.returncode}) {p.stdout[-500:]} {p.stderr}"


@pytest.mark.parametrize("how", ["truncated", "overwritten", "emptied"])
def test_a_damaged_database_file_is_exit_3_naming_it(r, candidates, how):
    """Found by a stranger: registry.db cut to half its size was "registry not
    found" (exit 2), and one with a stretch of random bytes was an
    infrastructure failure (exit 5) telling verify to run verify."""
    damaged = r.path("reg-file-" + how)
    shutil.copytree(r.reg, damaged)
    db = os.path.join(damaged, "registry.db")
    for extra in ("-wal", "-shm"):
        if os.path.exists(db + extra):
            os.remove(db + extra)
    size = os.path.getsize(db)
    with open(db, "r+b") as f:
        if how == "truncated":
            f.truncate(size // 2)
        elif how == "emptied":  # beside its artifacts/: a registry, damaged (a bare one is "not found")
            f.truncate(0)
        else:
            f.seek(min(3 * 4096, size // 2))
            f.write(np.random.default_rng(5).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    for cmd in (["verify"], ["list"], ["promote", "churn:1", "--alias", "staging", "--by", "ann"]):
        p = r.ws.run(["registry", "--registry", damaged] + cmd)
        assert p.returncode == 3 and f"'{db}' is damaged" in p.stderr and "backup" in p.stderr, \
            f"{how}, {cmd[0]}: exit 3 naming the damaged file: (exit {p.returncode}) {p.stderr[-400:]}"


def test_damage_that_is_still_json_is_found_and_a_dangling_alias_is_exit_3(r, candidates):
    damaged = r.path("reg-damaged-json")
    shutil.copytree(r.reg, damaged)
    db = sqlite3.connect(os.path.join(damaged, "registry.db"))
    db.executescript("DROP TRIGGER versions_immutable;"
                     "UPDATE versions SET record = '{}' WHERE version = 1;"
                     "UPDATE versions SET record = '{\"metrics\": \"x\", \"kind\": 5}' WHERE version = 2;"
                     "INSERT INTO aliases VALUES('churn', 'shadow', 42);")
    db.close()
    p = r.ws.run(["registry", "--registry", damaged, "verify"])
    assert p.returncode == 3 and "churn:1: its record's field 'metrics' is missing" in p.stdout \
        and "churn:2: its record's field 'kind' is of the wrong type" in p.stdout, must_msg(p, "verify")
    p = r.ws.run(["predict", "--registry", damaged, "--model", "churn@shadow", "--in", f"{r.data}/train.h5",
                  "--out", r.path("shadow-y.h5")])
    assert p.returncode == 3 and "@shadow points at version 42" in p.stderr, must_msg(p, "predict a dangling alias")


def test_an_empty_registry_db_is_not_a_registry_and_stays_empty(r):
    empty = r.path("reg-empty")
    os.makedirs(empty)
    open(os.path.join(empty, "registry.db"), "wb").close()
    for args in (["list"], ["verify"], ["show", "churn:1"]):
        p = r.ws.run(["registry", "--registry", empty] + args)
        assert p.returncode == 2 and "registry not found" in p.stderr, must_msg(p, " ".join(args))
    assert os.listdir(empty) == ["registry.db"] and os.path.getsize(os.path.join(empty, "registry.db")) == 0


# ---- names --------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ("../evil:1", "a/b:1", "..:1"))
def test_bad_model_name_refused(r, run1, bad):
    p = r.registry("show", bad)
    assert p.returncode == 2, f"model name '{bad}' refused: (exit {p.returncode}) {p.stderr}"


def test_bad_alias_refused(r, run1):
    p = r.registry("promote", "churn:1", "--alias", "../x")
    assert p.returncode == 2, f"alias '../x' refused: (exit {p.returncode}) {p.stderr}"


@pytest.mark.parametrize("i, bad", [(0, "bad/name"), (1, "..")])
def test_train_refuses_bad_model_name(r, i, bad):
    cfg = r.ws.write_config(f"bad{i}.toml", f'name = "{bad}"\n[data]\ntrain = "{r.data}/train.h5"\n'
                                            f'[registry]\nregister = true\npath = "{r.reg}"\n')
    p = r.ws.run(["train", "--config", cfg, "--quiet", "--noprogress"])
    assert p.returncode == 2 and "name" in p.stderr, \
        f"train refuses model name '{bad}': (exit {p.returncode}) {p.stderr}"


# ---- predict --model and a damaged artifact -----------------------------------------

@pytest.fixture(scope="module")
def x_in(r):
    x = r.path("x.h5")
    with h5py.File(f"{r.data}/train.h5") as f, h5py.File(x, "w") as g:
        g["features"] = f["features"][:100]
    return x


def test_predict_from_registry_and_verify(r, candidates, x_in):
    p = r.ws.run(["predict", "--registry", r.reg, "--model", "churn@production", "--in", x_in, "--out",
                  r.path("y.h5")])
    assert p.returncode == 0, must_msg(p, "predict --model churn@production")
    p = r.registry("verify")
    assert p.returncode == 0, must_msg(p, "verify: all artifacts intact")


def test_predict_json_is_json_with_round_trip_floats(r, candidates, x_in):
    p = r.ws.run(["predict", "--registry", r.reg, "--model", "churn@production", "--in", x_in, "--out",
                  r.path("y-json.h5"), "--json"])
    assert p.returncode == 0, must_msg(p, "predict --json")
    j = json.loads(p.stdout)
    assert j["model"] == "churn:1" and j["rows"] == 100 and j["rows_per_s"] == j["rows"] / j["seconds"], \
        f"predict --json: numbers read back exactly (rows_per_s = rows / seconds): {p.stdout}"
    with h5py.File(r.path("y-json.h5")) as f:
        assert "prediction" in f and "label" not in f, f"a regression model writes no /label: {list(f)}"


def test_truncated_checkpoint_caught(r, candidates, x_in):
    ck = r.show("churn:1")["artifacts"]["checkpoint"]["path"]
    with open(ck, "r+b") as f:
        f.truncate(os.path.getsize(ck) // 2)
    p = r.registry("verify")
    assert p.returncode == 3 and "churn:1 checkpoint" in p.stdout, \
        f"verify catches a truncated checkpoint (exit 3): (exit {p.returncode}) {p.stdout + p.stderr}"
    p = r.ws.run(["predict", "--registry", r.reg, "--model", "churn:1", "--in", x_in, "--out", r.path("y2.h5")])
    assert p.returncode == 3 and not os.path.exists(r.path("y2.h5")), \
        f"predict refuses the truncated artifact: (exit {p.returncode}) {p.stderr}"


def test_a_noop_promote_of_a_damaged_version_warns(r, candidates, x_in):
    """Found by a stranger: promoting the version an alias already holds said
    "nothing moved" with no word of its damaged artifacts (the README promises
    a warning)."""
    aliases = r.show("churn:1")["aliases"]
    assert aliases, "churn:1 holds an alias at this point of the module"
    p = r.registry("promote", "churn:1", "--alias", aliases[0], "--by", "ann")
    assert p.returncode == 0 and "already holds" in p.stdout, must_msg(p, "a no-op promote")
    assert "whose artifacts are damaged" in p.stderr and "checkpoint" in p.stderr, p.stderr


def test_altered_onnx_caught(r, candidates):
    good, _, _ = candidates
    onnx = r.show(good)["artifacts"]["onnx"]["path"]
    with open(onnx, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    p = r.registry("verify", "--json")
    assert p.returncode == 3 and len(json.loads(p.stdout)["problems"]) == 2, \
        f"verify catches an altered ONNX file too: (exit {p.returncode}) {p.stdout}"


def test_same_named_run_folders_are_two_runs(r, candidates, cfg_nr):
    """Two run folders that share a name are two runs, not one."""
    got = []
    for parent in ("a", "b"):
        r.train(cfg_nr, r.path(parent, "same"), "train.epochs=1")
        p = r.registry("register", "--run", r.path(parent, "same"))
        got.append(p.stdout.strip())
    assert got[0] != got[1] and all("churn:" in g for g in got), \
        f"same-named run folders get their own versions {got}"


# ---- a resumed run, console escaping -------------------------------------------------

def _digest(manifest):
    with open(manifest[:-5] + ".h5", "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_resumed_run_is_a_new_version(r, candidates, cfg_nr):
    """Idempotent per (run, checkpoint sha256): the same run registered twice is
    one version; resumed and trained further, it is a new one."""
    run = r.path("runR")
    r.train(cfg_nr, run, "train.epochs=1")
    first = r.registry("register", "--run", run)
    assert first.returncode == 0 and first.stdout.startswith("registered churn:"), must_msg(first, "register runR")
    v = int(first.stdout.split("churn:")[1].split()[0])
    again = r.registry("register", "--run", run)
    assert again.returncode == 0 and f"already registered as churn:{v} " in again.stdout, \
        f"the same run with the same checkpoint gives churn:{v} again: {again.stdout + again.stderr}"
    old_digest = _digest(summary_checkpoint(run))
    p = r.ws.run(["train", "--config", cfg_nr, "--run-dir", run, "--resume", "auto", "--set", "train.epochs=2",
                  "--allow-config-change", "--quiet", "--noprogress"])
    assert p.returncode == 0, must_msg(p, "resume runR for another epoch")
    new_digest = _digest(summary_checkpoint(run))
    assert new_digest != old_digest, "the resumed run has a new final checkpoint"
    p = r.registry("register", "--run", run)
    assert p.returncode == 0 and p.stdout.startswith(f"registered churn:{v + 1} "), \
        f"the continued run is registered as a new version churn:{v + 1}: {p.stdout + p.stderr}"
    old, new = r.show(f"churn:{v}"), r.show(f"churn:{v + 1}")
    assert (old["run_id"] == new["run_id"] and old["artifacts"]["checkpoint"]["sha256"] == old_digest and
            new["artifacts"]["checkpoint"]["sha256"] == new_digest), \
        f"churn:{v + 1} holds the continued model and churn:{v} the first: " \
        f"{old['artifacts']['checkpoint']['sha256'][:12]} {new['artifacts']['checkpoint']['sha256'][:12]}"


def summary_checkpoint(run):
    with open(os.path.join(run, "summary.json")) as f:
        return json.load(f)["checkpoint"]


def test_console_escapes_control_characters(r, candidates):
    """Notes, names and triggers with ESC or newlines do not reach the terminal raw."""
    p = r.registry("approve", "churn:1", "--by", "ev\x1b[2Jil", "--note", "line1\nline2\x1b[31m")
    assert p.returncode == 0 and "\x1b" not in p.stdout and "ev\\e[2Jil" in p.stdout, \
        f"approve echoes the name escaped: {p.stdout!r}"
    p = r.registry("show", "churn:1")
    line = [ln for ln in p.stdout.splitlines() if "ev\\e[2Jil" in ln]
    assert p.returncode == 0 and "\x1b" not in p.stdout and line and "line1\\nline2\\e[31m" in line[0], \
        f"show escapes the approver and the note, on one line: {p.stdout!r}"
    assert r.show("churn:1")["approvals"][-1]["note"] == "line1\nline2\x1b[31m", "--json keeps the note as given"
    p = r.registry("show", "churn\x1b[2J:1")
    assert p.returncode == 2 and "\x1b" not in p.stderr and "churn\\e[2J" in p.stderr, \
        f"an error message quoting user input is escaped: {p.stderr!r}"


@pytest.mark.parametrize("args", (["--by", "  ", "--tolerance", "0.1"], ["--by", "x", "--gated", ","],
                                  ["--by", "x", "--gated", "none,production"],
                                  ["--by", "x", "--gated", "production,Production"]))
def test_policy_refuses_blank_names_and_odd_gated_lists(r, candidates, args):
    before = json.loads(r.registry("policy", "churn", "--json").stdout)
    p = r.registry("policy", "churn", *args)
    assert p.returncode == 2, must_msg(p, " ".join(args))
    assert json.loads(r.registry("policy", "churn", "--json").stdout) == before

