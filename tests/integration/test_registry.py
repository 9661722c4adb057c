#!/usr/bin/env python3
"""The model registry with a real SQLite file and artifact folder.

Registration from `driftrun train` ([registry] register = true) and from
`driftrun registry register`: idempotent per run, distinct versions for two
processes registering at once, an intact database afterwards; promote, approve,
rollback and their refusals; names with '/' or '..' refused; a truncated or
altered artifact caught by `verify` and by `predict --model`; the record's
lineage equals the ONNX file's metadata_props.
"""
import json
import os
import sqlite3
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import Harness  # noqa: E402
import onnx_check  # noqa: E402

h = Harness("registry")
reg = h.path("reg")
data = h.path("data")
h.make_data(data, "--rows", "2000", "--features", "5")


def config(name, extra=""):
    return h.write_config(f"{name}.toml", f"""
name = "{name}"
[data]
train = "{data}/train.h5"
[model]
hidden = [16]
[train]
epochs = 8
batch_size = 64
lr = 5e-3
[registry]
path = "{reg}"
{extra}
""")


def train(cfg, run, *sets):
    p = h.run(["train", "--config", cfg, "--run-dir", run, "--quiet", "--noprogress"] +
              [x for s in sets for x in ("--set", s)])
    h.must(p, f"train {os.path.basename(run)}")
    return p


def registry(*args):
    return h.run(["registry", "--registry", reg] + list(args))


def show(ref):
    p = registry("show", ref, "--json")
    return json.loads(p.stdout) if p.returncode == 0 else None


cfg = config("churn", "register = true")
p = h.run(["train", "--config", cfg, "--run-dir", h.path("run1"), "--quiet", "--noprogress", "--trigger",
           "drift/report-17.json"])
h.must(p, "train run1 (register = true, --trigger)")
v1 = show("churn:1")
h.check(v1 is not None and v1["run_id"].startswith("run1-"), "train with register = true registers churn:1",
        str(v1 and v1["run_id"]))
h.check(v1 is not None and v1["aliases"] == ["candidate"], "churn:1 holds alias candidate")
for field in ("metrics", "config", "data_fingerprint", "code_version", "libraries", "seed", "world_size",
              "parent_version", "trigger", "created", "approvals", "artifacts"):
    h.check(v1 is not None and field in v1, f"record has '{field}'")
h.check(v1 and set(v1["artifacts"]) >= {"onnx", "checkpoint", "profile", "report"},
        "artifacts: onnx, checkpoint, profile, report", str(v1 and v1["artifacts"].keys()))
h.check(v1 and {"libtorch", "mpi", "cuda", "nccl"} <= set(v1["libraries"]), "library versions recorded")

# Lineage: record == ONNX metadata_props.
meta = onnx_check.metadata(v1["artifacts"]["onnx"]["path"])
h.check(meta.get("driftrun.registry_name") == "churn" and meta.get("driftrun.registry_version") == "1" and
        meta.get("driftrun.config_hash") == v1["config_hash"] and
        meta.get("driftrun.data_fingerprint") == v1["data_fingerprint"] and
        meta.get("driftrun.code_version") == v1["code_version"] and
        meta.get("driftrun.trigger") == v1["trigger"] == "drift/report-17.json" and
        v1["parent_version"] is None and meta.get("driftrun.parent_version") == "",
        "ONNX metadata_props agree with the registry record", str(meta))

# Idempotent: the same run again gives the same version.
p = registry("register", "--run", h.path("run1"))
h.check(p.returncode == 0 and "churn:1" in p.stdout, "registering run1 again gives churn:1 again", p.stdout + p.stderr)

# Two processes registering at the same time.
cfg_nr = config("churn", "register = false")
train(cfg_nr, h.path("run2"), "train.seed=1")
train(cfg_nr, h.path("run3"), "train.seed=2", "train.max_steps=1")  # barely trained: worse
procs = [subprocess.Popen([h.driftrun, "registry", "--registry", reg, "register", "--run", h.path(r)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ("run2", "run3")]
outs = [pr.communicate(timeout=300) for pr in procs]
h.check(all(pr.returncode == 0 for pr in procs), "two concurrent registrations succeed", str(outs))
versions = sorted(int(o[0].split("churn:")[1].split()[0]) for o in outs if "churn:" in o[0])
h.check(versions == [2, 3], f"they got distinct versions {versions}")
db = sqlite3.connect(os.path.join(reg, "registry.db"))
h.check(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "database intact (integrity_check ok)")
h.check(db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 3, "three versions stored")
h.check(db.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "database in WAL mode")
try:
    db.execute("UPDATE versions SET run_id = 'x' WHERE version = 1")
    db.commit()
    h.check(False, "versions are immutable (UPDATE refused)")
except sqlite3.DatabaseError:
    h.check(True, "versions are immutable (UPDATE refused)")
db.close()

# Promote, gate, approval, rollback.
p = registry("promote", "churn:1", "--alias", "production", "--by", "ann")
h.must(p, "promote churn:1 to production")
# The concurrent registrations may have numbered run2 and run3 either way round.
by_run = {show(f"churn:{v}")["run_dir"].rsplit("/", 1)[-1]: v for v in (2, 3)}
good, bad = f"churn:{by_run['run2']}", f"churn:{by_run['run3']}"
p = registry("promote", bad, "--alias", "production")
h.check(p.returncode == 4 and "refused" in p.stderr and "both on the candidate's holdout" in p.stderr,
        "promotion gate refuses a worse candidate, both evaluated on its holdout (exit 4)", p.stdout + p.stderr)
p = registry("promote", bad, "--alias", "production", "--gate", "recorded")
h.check(p.returncode == 4 and "as recorded" in p.stderr, "--gate recorded refuses it on the recorded losses",
        p.stdout + p.stderr)
h.check(show("churn@production")["version"] == 1, "production unchanged after a refusal")
p = h.run(["registry", "--config", h.write_config("appr.toml", f'name = "churn"\n[registry]\npath = "{reg}"\n'
                                                  'require_approval = true\ntolerance = 10.0\n'),
           "promote", good, "--alias", "production"])
h.check(p.returncode == 4 and "approv" in p.stderr, "require_approval: unapproved promotion refused",
        p.stdout + p.stderr)
p = registry("approve", good, "--by", "bob", "--note", "checked the holdout")
h.must(p, f"approve {good}")
p = h.run(["registry", "--config", h.path("appr.toml"), "promote", good, "--alias", "production",
           "--by", "bob", "--reason", "approved retrain"])
h.must(p, f"approved {good} promoted")
h.check(show("churn@production")["version"] == by_run["run2"], f"production -> {good}")
# The gate's fresh evaluation of the candidate on its own holdout equals the
# validation loss its training recorded (same rows, same model).
why = [e for e in show(good)["alias_history"] if e["alias"] == "production"][-1]["why"]
fresh = float(why.split("holdout loss ")[1].split()[0])
recorded = show(good)["metrics"]["holdout"]["loss"]
h.check(abs(fresh - recorded) <= 1e-5 * abs(recorded), f"gate's holdout loss {fresh:.6g} = recorded {recorded:.6g}",
        why)
p = registry("rollback", "churn", "--alias", "production", "--by", "ann")
h.check(p.returncode == 0 and show("churn@production")["version"] == 1, "rollback moves production back to 1",
        p.stdout + p.stderr)
hist = show("churn:1")["alias_history"]
prod = [e for e in hist if e["alias"] == "production"]
h.check(len(prod) == 3 and prod[1]["who"] == "bob" and prod[1]["why"].startswith("approved retrain") and
        prod[2]["rollback"],
        "every alias move recorded with who and why", json.dumps(prod))
p = registry("rollback", "churn", "--alias", "production")
h.check(p.returncode == 2, "rollback past the first holder refused", p.stderr)
p = registry("list", "--json")
h.check(p.returncode == 0 and len(json.loads(p.stdout)) == 3, "list --json shows 3 versions")

# Names.
for bad in ("../evil:1", "a/b:1", "..:1"):
    p = registry("show", bad)
    h.check(p.returncode == 2, f"model name '{bad}' refused", p.stderr)
p = registry("promote", "churn:1", "--alias", "../x")
h.check(p.returncode == 2, "alias '../x' refused")
for i, bad in enumerate(("bad/name", "..")):
    p = h.run(["train", "--config", h.write_config(f"bad{i}.toml", f'name = "{bad}"\n[data]\ntrain = "{data}/train.h5"\n'
                                                   f'[registry]\nregister = true\npath = "{reg}"\n'),
               "--quiet", "--noprogress"])
    h.check(p.returncode == 2 and "name" in p.stderr, f"train refuses model name '{bad}'", p.stderr)

# predict --model and a damaged artifact.
x = h.path("x.h5")
with h5py.File(f"{data}/train.h5") as f, h5py.File(x, "w") as g:
    g["features"] = f["features"][:100]
p = h.run(["predict", "--registry", reg, "--model", "churn@production", "--in", x, "--out", h.path("y.h5")])
h.must(p, "predict --model churn@production")
p = registry("verify")
h.must(p, "verify: all artifacts intact")
ck = show("churn:1")["artifacts"]["checkpoint"]["path"]
with open(ck, "r+b") as f:
    f.truncate(os.path.getsize(ck) // 2)
p = registry("verify")
h.check(p.returncode == 3 and "churn:1 checkpoint" in p.stdout, "verify catches a truncated checkpoint (exit 3)",
        p.stdout + p.stderr)
p = h.run(["predict", "--registry", reg, "--model", "churn:1", "--in", x, "--out", h.path("y2.h5")])
h.check(p.returncode == 3 and not os.path.exists(h.path("y2.h5")), "predict refuses the truncated artifact",
        p.stderr)
onnx = show(good)["artifacts"]["onnx"]["path"]
with open(onnx, "r+b") as f:
    f.seek(100)
    f.write(b"\x00\x01")
p = registry("verify", "--json")
h.check(p.returncode == 3 and len(json.loads(p.stdout)["problems"]) == 2, "verify catches an altered ONNX file too",
        p.stdout)
# Two run folders that share a name are two runs, not one.
got = []
for parent in ("a", "b"):
    train(cfg_nr, h.path(parent, "same"), "train.epochs=1")
    p = registry("register", "--run", h.path(parent, "same"))
    got.append(p.stdout.strip())
h.check(got[0] != got[1] and all("churn:" in g for g in got), f"same-named run folders get their own versions {got}")
h.finish()
