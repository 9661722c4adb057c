"""The retraining service (driftrun serve, signal, status, replay), end to end with
real mpirun jobs, a real registry and the journal read back with Python's sqlite3.

- Clean batch: no retrain; mean-shifted batch: one retrain, registered with a
  trigger naming the batch and its drift report, promoted with a verdict.
- A corrupt file and a file with other feature names are quarantined with a
  reason; the service goes on.
- replay over the same files makes the same decisions as the live service.
- After a drift the new regime is the reference; noisier labels and a return
  to an earlier regime settle after one retrain.
- Label drift (features unchanged): concept drift, a retrain.
- Ten drifted batches in a burst: one retrain, nine merged triggers; the
  cooldown then holds the next drifted batch.
- driftrun signal queues a retrain while the service runs; a challenger trained
  with a broken learning rate is registered but not promoted, with the reason.

Stopping, crash safety, approval, a signal after a drift and a moved registry:
test_service_jobs.py; the training
window: test_service_window.py; the harness (Svc): service_harness.py.
Tests that take `executor` run twice: with the local executor (an mpirun child
per job) and with the pool executor (`mpirun -np 3 driftrun serve --executor
pool`: the jobs run on the two worker ranks of the service's own world).
Pool-only behaviour (concurrent groups, heartbeats, a killed worker): test_pool.py.
"""
import hashlib
import json
import os
import shutil
import sqlite3

import h5py
import numpy as np
import pytest

from harness import must_msg
from service_harness import Svc, stop


@pytest.fixture(scope="module", params=["local", "pool"])
def executor(request):
    return request.param


# ---- clean, drift, quarantine, replay (one service run shared by four tests)

@pytest.fixture(scope="module")
def drift_run(driftrun_paths, tmp_path_factory, executor):
    # A workspace per executor: each run has its own state, registry and incoming folder.
    from harness import Workspace
    module_workspace = Workspace(*driftrun_paths, tmp_path_factory.mktemp(f"svc-drift-{executor}-"))

    def run():
        s = Svc(module_workspace, ("--batches", "2", "--drift", "mean", "--drift-from", "2",
                                   "--drift-magnitude", "1.0"), executor=executor)
        s.drop(s.batch(1))
        with open(module_workspace.path("garbage.h5"), "wb") as f:
            f.write(b"this is not an HDF5 file\n" * 10)
        s.drop(module_workspace.path("garbage.h5"), "bad.h5")
        with h5py.File(s.batch(1), "r") as src, h5py.File(module_workspace.path("renamed.h5"), "w") as dst:
            dst["features"] = src["features"][()]
            dst["labels"] = src["labels"][()]
            dst.attrs["feature_names"] = [f"other{i}" for i in range(src["features"].shape[1])]
        s.drop(module_workspace.path("renamed.h5"))
        with h5py.File(s.batch(1), "r") as src:
            x, y, names = src["features"][()], src["labels"][()], src.attrs["feature_names"]
        for name, xx, yy in (("nanlabels.h5", x, np.full_like(y, np.nan)),  # cannot be trained on
                             ("broken.h5", np.where(np.arange(x.shape[1]) == 0, np.nan, x), y)):  # pipeline bug
            with h5py.File(module_workspace.path(name), "w") as dst:
                dst["features"] = xx.astype(np.float32)
                dst.attrs["feature_names"] = names
                dst["labels"] = yy
            s.drop(module_workspace.path(name))
        s.drop(s.batch(2))
        p = s.serve("--max-batches", "6")
        assert p.returncode == 0, must_msg(p, "driftrun serve --max-batches 6")
        return s, p
    return module_workspace.once("drift-" + executor, run)


def test_clean_batch_no_retrain_drifted_batch_one_promoted_retrain(drift_run):
    s, _ = drift_run
    b = {os.path.basename(r["file"]): r for r in s.rows("SELECT * FROM batches")}
    assert b["batch-001.h5"]["decision"] == "scored" and not b["batch-001.h5"]["drifted"]
    assert not b["batch-001.h5"]["concept"]
    assert b["batch-002.h5"]["drifted"] == 1, b["batch-002.h5"]["reason"]
    jobs = s.rows("SELECT * FROM jobs ORDER BY id")
    assert [(j["trigger"], j["state"]) for j in jobs] == [("initial", "promoted"), ("drift", "promoted")], jobs
    trig = s.rows("SELECT * FROM triggers WHERE kind = 'drift'")
    assert [t["action"] for t in trig] == ["queue"], trig
    assert json.loads(trig[0]["batches"]) == [b["batch-002.h5"]["id"]]
    v = {r["version"]: r for r in s.versions()}
    assert sorted(v) == [1, 2]
    assert "production" in v[2]["aliases"]
    assert "batch-002.h5" in v[2]["trigger"] and "batch-001.h5" not in v[2]["trigger"]
    report = b["batch-002.h5"]["report"]
    assert report in v[2]["trigger"] and os.path.isfile(report)
    assert json.load(open(report))["drift"]["dataset_drift"] is True
    assert v[2]["verdict"]["promote"] is True and v[2]["verdict"]["champion"] == 1
    assert v[2]["metrics"]["drifted_window"]["done"] is True
    assert v[2]["metrics"]["drifted_window"]["difference"] < 0
    # The job trained on data.train plus the labelled batches, warm from version 1.
    assert [os.path.basename(f) for f in v[2]["service"]["window"]] == ["batch-001.h5", "batch-002.h5"]
    assert v[2]["service"]["warm_from"] and v[1]["verdict"]["reason"].startswith("first model")
    # It trained on the service's own copies of the batches as scored (a file
    # renamed over one in the incoming folder later changes nothing).
    for f in v[2]["service"]["window"]:
        scored = b[os.path.basename(f)]
        assert f"/state/batches/demo/{scored['sha256'][:16]}/" in f, f
        assert hashlib.sha256(open(f, "rb").read()).hexdigest() == scored["sha256"], f


def _damage_middle(path):
    """Folds the WAL in, then overwrites 4 KiB in the middle of a SQLite file."""
    c = sqlite3.connect(path)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(bytes((i * 7) % 256 for i in range(4096)))


def test_a_damaged_registry_or_journal_stops_serve_and_status_with_exit_3(drift_run):
    """Found by a stranger: serve on a registry damaged in the middle read it as
    "no production version yet", trained a first model and went on; status and
    serve on a damaged journal showed half the truth with exit 0."""
    s, _ = drift_run
    if s.executor != "local":
        pytest.skip("the start-up checks are the executor's common path")
    reg = s.ws.path("registry-damaged")
    shutil.copytree(s.ws.path("registry"), reg)
    _damage_middle(os.path.join(reg, "registry.db"))
    state = s.ws.path("state-fresh")
    p = s.ws.run(["serve", "--config", s.config, "--set", f"registry.path={json.dumps(reg)}",
                  "--set", f"service.state={json.dumps(state)}"])
    assert p.returncode == 3 and "registry.db' is damaged" in p.stderr, must_msg(p, "serve on a damaged registry")
    assert not os.path.exists(state), "a refused serve created its state folder"

    copied = s.ws.path("state-damaged")
    shutil.copytree(s.ws.path("state"), copied, ignore=shutil.ignore_patterns("*.lock"))
    _damage_middle(os.path.join(copied, "journal.db"))
    p = s.ws.run(["status", "--config", s.config, "--set", f"service.state={json.dumps(copied)}"])
    assert p.returncode == 3 and "journal.db' is damaged" in p.stderr, must_msg(p, "status on a damaged journal")


def test_unreadable_and_renamed_batches_quarantined_with_reason(drift_run):
    s, _ = drift_run
    q = {os.path.basename(r["file"]): r for r in s.rows("SELECT * FROM batches WHERE decision = 'quarantined'")}
    assert sorted(q) == ["bad.h5", "nanlabels.h5", "renamed.h5"]
    assert "label" in q["nanlabels.h5"]["reason"] and "training window" in q["nanlabels.h5"]["reason"]
    for name in q:
        moved = s.ws.path("state", "quarantine", "demo", name)
        assert os.path.isfile(moved) and not os.path.exists(s.ws.path("incoming", name))
        reason = open(moved + ".reason").read()
        assert reason.strip() == q[name]["reason"]
    assert "other0" in q["renamed.h5"]["reason"] or "column" in q["renamed.h5"]["reason"]


def test_a_broken_feature_is_a_quality_problem_not_a_retrain(drift_run):
    s, _ = drift_run
    b = s.rows("SELECT * FROM batches WHERE file LIKE '%broken.h5'")[0]
    assert b["decision"] == "quality" and b["action"] == "none" and not b["drifted"], b["reason"]
    assert "data quality" in b["reason"] and "missing" in b["reason"]
    v = {r["version"]: r for r in s.versions()}
    assert not any("broken.h5" in w for w in v[2]["service"]["window"])


def test_status_json_reports_models_batches_and_jobs(drift_run):
    s, _ = drift_run
    p = s.ws.run(["status", "--config", s.config, "--json", "--limit", "10"])
    assert p.returncode == 0, must_msg(p, "status --json")
    st = json.loads(p.stdout)
    m = st["models"][0]
    assert m["name"] == "demo" and m["production"] == 2
    assert st["service"]["running"] is False
    assert len(m["batches"]) == 6 and [j["state"] for j in m["jobs"]] == ["promoted", "promoted"]
    # Found by a stranger: what a job trained on was only in the journal's spec column.
    drift = m["jobs"][0]
    assert [os.path.basename(f) for f in drift["window_batches"]] == ["batch-001.h5", "batch-002.h5"], drift
    assert drift["left_out"] == [] and drift["reference"]["from"] == "drift", drift
    p = s.ws.run(["status", "--config", s.config])
    assert p.returncode == 0 and "production demo:2" in p.stdout, must_msg(p, "status")
    # Found by a stranger: the plain view did not say why a version was promoted or stayed a candidate.
    p = s.ws.run(["registry", "show", "demo:2", "--registry", s.ws.path("registry")])
    assert p.returncode == 0 and "verdict:" in p.stdout and "promoted: better on" in p.stdout, must_msg(p, "show")


def test_replay_decides_as_the_live_service_did(drift_run):
    s, _ = drift_run
    past = s.ws.path("past")
    os.makedirs(past, exist_ok=True)
    live = {os.path.basename(r["file"]): r for r in s.rows("SELECT * FROM batches WHERE decision = 'scored'")}
    for name, r in live.items():
        shutil.copyfile(r["file"], os.path.join(past, name))
        os.utime(os.path.join(past, name), (r["mtime"], r["mtime"]))
    p = s.ws.run(["replay", "--config", s.config, "--batches", past, "--version", "1", "--json"])
    assert p.returncode == 0, must_msg(p, "replay")
    rep = {os.path.basename(r["file"]): r for r in json.loads(p.stdout)}
    assert sorted(rep) == sorted(live)
    for name, r in live.items():
        assert rep[name]["drifted"] == bool(r["drifted"]) and rep[name]["concept"] == bool(r["concept"])
        assert rep[name]["drift_share"] == r["drift_share"]
        assert rep[name]["action"] == r["action"], (name, rep[name]["trigger_reason"], r["reason"])
    # Nothing was written: no reports, no quarantine for the replayed files.
    assert not os.path.exists(os.path.join(past, "state"))
    # Found by a stranger: the data folder's train.h5 was replayed as a batch.
    p = s.ws.run(["replay", "--config", s.config, "--batches", s.ws.path("data"), "--version", "1", "--json"])
    assert p.returncode == 0, must_msg(p, "replay of the data folder")
    assert "train.h5" not in [os.path.basename(r["file"]) for r in json.loads(p.stdout)]
    assert "skipped" in p.stderr and "train.h5" in p.stderr and "data.train" in p.stderr, p.stderr
    # A copy under another name is a duplicate in replay as in serve: it does not count twice.
    first = min(live.values(), key=lambda r: r["mtime"])
    copy = os.path.join(past, "copy-of-" + os.path.basename(first["file"]))
    shutil.copyfile(first["file"], copy)
    os.utime(copy, (first["mtime"] + 0.5, first["mtime"] + 0.5))
    p = s.ws.run(["replay", "--config", s.config, "--batches", past, "--version", "1", "--json"])
    assert p.returncode == 0, must_msg(p, "replay with a copy")
    rep2 = {os.path.basename(r["file"]): r for r in json.loads(p.stdout)}
    assert rep2[os.path.basename(copy)]["decision"] == "duplicate", rep2[os.path.basename(copy)]
    assert all(rep2[n]["action"] == rep[n]["action"] for n in rep), "a duplicate changed the other decisions"


# ---- concept drift

@pytest.mark.parametrize("reference", ["drift", "training"])
def test_after_a_drift_retrain_the_new_regime_is_the_reference(workspace, reference):
    """Found by a stranger: the retrained version's reference profile was all
    of its training data, where the shifted regime is a minority, so every
    later batch of the new regime drifted against it and queued another
    retrain (up to trigger.max_per_day). retrain.reference = "drift" profiles
    the window's batches since the drift; "training" keeps the old profile."""
    s = Svc(workspace, ("--batches", "3", "--drift", "mean", "--drift-from", "2", "--drift-magnitude", "1.0"))
    sets = ["--set", f'retrain.reference="{reference}"']
    s.drop(s.batch(1))
    s.drop(s.batch(2))
    p = s.serve("--max-batches", "2", *sets)
    assert p.returncode == 0, must_msg(p, "serve --max-batches 2")
    v = {r["version"]: r for r in s.versions()}
    assert sorted(v) == [1, 2] and "production" in v[2]["aliases"], v
    ref = v[2]["service"]["reference"]
    with h5py.File(workspace.path(v[2]["artifacts"]["profile"]["path"]), "r") as f:
        rows, source = f.attrs["rows"], f.attrs["source"]
    s.drop(s.batch(3))
    p = s.serve("--max-batches", "3", *sets)
    assert p.returncode == 0, must_msg(p, "serve --max-batches 3")
    b3 = [r for r in s.rows("SELECT * FROM batches") if r["file"].endswith("batch-003.h5")][0]
    assert b3["production"] == 2, b3
    if reference == "drift":
        kept = [f for f in v[2]["service"]["window"] if f.endswith("batch-002.h5")]
        assert ref["from"] == "drift" and ref["files"] == kept and ref["rows"] == 600, ref
        assert rows == 600 and source == kept[0], (rows, source)
        assert b3["drift_share"] < 0.5 and not b3["drifted"], b3["reason"]
        # Found by a stranger: a copy under another name was scored as new
        # without a word; then a renamed copy of trained data queued a retrain.
        # Now it is a duplicate: scored and shown, never a trigger or training data.
        triggers = len(s.rows("SELECT id FROM triggers"))
        s.drop(s.batch(3), "again.h5")
        p = s.serve("--max-batches", "4", *sets)
        assert p.returncode == 0, must_msg(p, "serve --max-batches 4")
        again = s.rows("SELECT * FROM batches WHERE file LIKE '%again.h5'")[0]
        assert f"the same data as {b3['file']}, scored before" in again["reason"], again["reason"]
        assert again["decision"] == "duplicate" and again["action"] == "none", again
        assert len(s.rows("SELECT id FROM triggers")) == triggers, "a duplicate made a trigger"
        st = workspace.run(["status", "--config", s.config, "--json"], cwd=workspace.tmp)
        assert [b["decision"] for b in json.loads(st.stdout)["models"][0]["batches"]][0] == "duplicate", st.stdout
    else:
        assert ref == {"from": "training", "why": 'retrain.reference = "training"'}, ref
        assert rows > 4000 and "train.h5" in source, (rows, source)
        assert b3["drifted"], b3["reason"]


# How job 2's challenger is trained: with a learning rate too small to move a
# weight, so it equals production and cannot do better (rejected, sound); with
# a broken learning rate (rejected, worse on the holdout).
NOISE_OUTCOMES = {"sound": ["--set", "train.lr=1e-12"], "broken": ["--set", "train.lr=30"]}


@pytest.mark.parametrize("outcome", list(NOISE_OUTCOMES))
def test_noisier_labels_settle_once_a_sound_retrain_cannot_do_better(workspace, outcome):
    """Found by a stranger: labels that became noisier (a loss no retrain can
    bring back) were concept drift on every batch, each retrain rejected, up to
    trigger.max_per_day. Once a sound challenger did no better on the batches
    since the drift, production is checked against its own loss there, and
    the service settles. A broken challenger does not lower the bar."""
    s = Svc(workspace, ("--batches", "3"))
    rng = np.random.default_rng(0)
    for n in (2, 3):
        with h5py.File(s.batch(n), "r+") as f:
            y = f["labels"][()]
            f["labels"][...] = (y + rng.normal(0, y.std(), y.shape)).astype(y.dtype)
    s.drop(s.batch(1))
    assert s.serve("--max-batches", "1").returncode == 0
    s.drop(s.batch(2))
    p = s.serve("--max-batches", "2", *NOISE_OUTCOMES[outcome])
    assert p.returncode == 0, must_msg(p, "serve --max-batches 2")
    jobs = s.rows("SELECT * FROM jobs ORDER BY id")
    assert [(j["trigger"], j["state"]) for j in jobs] == [("initial", "promoted"), ("drift", "rejected")], jobs
    b2 = s.rows("SELECT * FROM batches WHERE file LIKE '%batch-002.h5'")[0]
    assert b2["concept"] and not b2["drifted"], b2["reason"]
    since = json.loads(jobs[1]["verdict"])["since_drift"]
    assert since["done"] and since["rows"] > 0, since
    why = {"sound": "not better than production on the batches since the drift",
           "broken": "worse than production on the holdout"}
    assert why[outcome] in jobs[1]["reason"], jobs[1]["reason"]
    s.drop(s.batch(3))
    p = s.serve("--max-batches", "3")
    assert p.returncode == 0, must_msg(p, "serve --max-batches 3")
    b3 = s.rows("SELECT * FROM batches WHERE file LIKE '%batch-003.h5'")[0]
    if outcome == "broken":
        assert b3["concept"] and "vs holdout" in b3["reason"], b3["reason"]
        assert len(s.rows("SELECT * FROM jobs")) == 3, "a retrain for batch 3"
        return
    assert not b3["concept"], b3["reason"]
    assert "vs its loss since the drift (job 2 did not beat it)" in b3["reason"], b3["reason"]
    # Production's loss on every row of batch 2 (it trained on none), not only its held-out share.
    every = json.loads(jobs[1]["verdict"])["production_since_drift"]
    assert every["rows"] == 600 and f"{every['loss']:.4g} (600 rows)" in b3["reason"], (every, b3["reason"])
    assert len(s.rows("SELECT * FROM jobs")) == 2, "no retrain for batch 3"


@pytest.mark.parametrize("outcome", ["promoted", "rejected"])
def test_a_return_to_the_earlier_regime_settles_after_one_retrain(workspace, outcome):
    """Found by a stranger: after a lasting drift and its retrain, batches of
    the earlier regime drifted against the new reference; retrains that could
    not beat production left it in place, and the alarm fired on every batch
    until the whole window was of the earlier regime. One retrain, then the
    earlier regime is no longer drift (promoted: its reference is those
    batches; rejected with a sound challenger: production is checked against
    them)."""
    s = Svc(workspace, ("--batches", "2", "--drift", "mean", "--drift-from", "2", "--drift-magnitude", "1.0"))
    # The same ground truth (seed), no drift: batches of the earlier regime.
    workspace.make_data(workspace.path("back"), "--rows", "600", "--batch-rows", "600", "--batches", "3")
    s.drop(s.batch(1))
    s.drop(s.batch(2))
    assert s.serve("--max-batches", "2").returncode == 0
    assert [j["state"] for j in s.rows("SELECT * FROM jobs ORDER BY id")] == ["promoted", "promoted"]
    # rejected: job 3's challenger trains with a learning rate too small to
    # move a weight: it equals production, a sound challenger no better.
    sets = {"promoted": [], "rejected": ["--set", "train.lr=1e-12"]}[outcome]
    for n, name in ((3, "back-002.h5"), (4, "back-003.h5")):
        s.drop(workspace.path("back", f"batch-00{n - 1}.h5"), name)
        p = s.serve("--max-batches", str(n), *(sets if n == 3 else []))
        assert p.returncode == 0, must_msg(p, f"serve --max-batches {n}")
    b = {os.path.basename(r["file"]): r for r in s.rows("SELECT * FROM batches")}
    assert b["back-002.h5"]["drifted"], b["back-002.h5"]["reason"]
    assert not b["back-003.h5"]["drifted"] and not b["back-003.h5"]["concept"], b["back-003.h5"]["reason"]
    jobs = s.rows("SELECT * FROM jobs ORDER BY id")
    assert len(jobs) == 3 and jobs[2]["state"] == outcome, jobs
    if outcome == "rejected":
        assert "against the batches since the drift (job 3 did not beat production there)" in \
            b["back-003.h5"]["reason"], b["back-003.h5"]["reason"]


def test_drift_only_in_unlabelled_batches_does_not_retrain_on_the_same_data_again(workspace):
    """Found by a stranger: drifted batches without labels queued a retrain
    each, all trained on the same window (labels are what a retrain learns
    from). The second fails at once, saying there is nothing new."""
    s = Svc(workspace, ("--batches", "3", "--drift", "mean", "--drift-from", "2", "--drift-magnitude", "1.0"))
    for n in (2, 3):
        with h5py.File(s.batch(n), "r+") as f:
            del f["labels"]
    s.drop(s.batch(1))
    s.drop(s.batch(2))
    p = s.serve("--max-batches", "2")
    assert p.returncode == 0, must_msg(p, "serve --max-batches 2")
    jobs = s.rows("SELECT * FROM jobs ORDER BY id")
    assert [j["state"] for j in jobs][0] == "promoted" and jobs[1]["state"] in ("promoted", "rejected"), jobs
    assert [os.path.basename(f) for f in json.loads(jobs[1]["spec"])["window_batches"]] == ["batch-001.h5"]
    s.drop(s.batch(3))
    p = s.serve("--max-batches", "3")
    assert p.returncode == 0, must_msg(p, "serve --max-batches 3")
    b3 = s.rows("SELECT * FROM batches WHERE file LIKE '%batch-003.h5'")[0]
    assert b3["drifted"] and not b3["labelled"], b3
    jobs = s.rows("SELECT * FROM jobs ORDER BY id")
    assert len(jobs) == 3 and jobs[2]["state"] == "failed", jobs
    assert jobs[2]["reason"].startswith("nothing new to train on: job 2 trained on this window"), jobs[2]["reason"]
    assert not os.path.exists(workspace.path("state", "jobs", str(jobs[2]["id"]), "run")), "never launched"


def test_label_drift_is_concept_drift_and_retrains(workspace, executor):
    s = Svc(workspace, ("--batches", "1", "--drift", "label", "--drift-from", "1"), executor=executor)
    s.drop(s.batch(1))
    p = s.serve("--max-batches", "1")
    assert p.returncode == 0, must_msg(p, "serve")
    b = s.rows("SELECT * FROM batches")[0]
    assert b["concept"] == 1 and b["drifted"] == 0, b["reason"]
    assert [j["trigger"] for j in s.rows("SELECT * FROM jobs ORDER BY id")] == ["initial", "drift"]
    assert len(s.versions()) == 2


# ---- burst, merges, cooldown

def test_burst_of_ten_drifted_batches_one_retrain_then_cooldown_holds(workspace, executor):
    s = Svc(workspace, ("--batches", "11", "--drift", "mean", "--drift-from", "1", "--drift-magnitude", "1.0"),
            cooldown=3600, executor=executor)
    for n in range(1, 11):
        s.drop(s.batch(n))
    proc = s.serve_bg("--max-batches", "11")
    try:
        s.wait("SELECT id FROM jobs WHERE trigger = 'drift' AND state IN ('promoted', 'rejected', 'failed')",
               "the retrain to end", proc)
        s.drop(s.batch(11))
        assert proc.wait(timeout=240) == 0, open(workspace.path("serve-bg.log")).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    trig = s.rows("SELECT * FROM triggers WHERE kind = 'drift' ORDER BY id")
    assert [t["action"] for t in trig] == ["queue"] + ["merge"] * 9 + ["hold"], [t["reason"] for t in trig]
    assert len({t["job"] for t in trig[:10]}) == 1
    assert "cooldown" in trig[10]["reason"]
    assert len(s.rows("SELECT * FROM jobs WHERE trigger = 'drift'")) == 1


# ---- signal and a worse challenger

def test_signal_queues_a_retrain_and_a_worse_challenger_is_not_promoted(workspace, executor):
    s = Svc(workspace, executor=executor)
    proc = s.serve_bg()
    try:
        s.wait("SELECT id FROM jobs WHERE state = 'promoted'", "the initial model", proc)
        p = workspace.run(["status", "--config", s.config, "--json"])
        assert json.loads(p.stdout)["service"]["running"] is True, p.stdout
        if executor == "local":  # under mpirun, rank 0 (a child of mpirun) holds the lock
            assert f"pid={proc.pid}" in json.loads(p.stdout)["service"]["holder"]
            # A second service with its own state folder is refused by the model's
            # lock, and leaves no state folder behind (found by a stranger).
            other = workspace.path("state-2")
            p = workspace.run(["serve", "--config", s.config, "--set", f"service.state={json.dumps(other)}"])
            assert p.returncode != 0 and "model 'demo'" in p.stderr, must_msg(p, "a second service")
            assert not os.path.exists(other), os.listdir(other)
        p = workspace.run(["signal", "--config", s.config, "--model", "dmeo", "--reason", "typo"])
        assert p.returncode == 2 and "demo" in p.stderr, must_msg(p, "signal to an unknown model")
        p = workspace.run(["signal", "--config", s.config, "--model", "demo", "--reason", "new labels",
                           "--by", "ann"])
        assert p.returncode == 0, must_msg(p, "signal")
        s.wait("SELECT id FROM jobs WHERE trigger = 'signal' AND state IN ('promoted', 'rejected')",
               "the signalled retrain", proc)
        assert stop(proc, executor) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    sig = s.rows("SELECT * FROM signals")
    assert len(sig) == 1 and sig[0]["trigger"] > 0 and sig[0]["by"] == "ann"
    # A challenger from scratch with a learning rate too small to learn anything.
    p = workspace.run(["signal", "--config", s.config, "--model", "demo", "--reason", "broken lr"])
    assert p.returncode == 0
    proc = s.serve_bg("--set", "train.lr=1e-9", "--set", "retrain.warm_start=false")
    try:
        job = s.wait("SELECT * FROM jobs WHERE trigger = 'signal' AND id = 3 AND state IN "
                     "('promoted', 'rejected', 'failed')", "the broken challenger", proc)[0]
        assert stop(proc, executor) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert job["state"] == "rejected", job["reason"]
    assert "worse than production on the holdout" in job["reason"]
    v = {r["version"]: r for r in s.versions()}
    assert len(v) == 3 and "production" not in v[3]["aliases"] and "candidate" in v[3]["aliases"]
    assert v[3]["verdict"]["promote"] is False
    # Another architecture cannot start from production's weights: from scratch, said so.
    assert workspace.run(["signal", "--config", s.config, "--model", "demo", "--reason", "wider"]).returncode == 0
    proc = s.serve_bg("--set", "model.hidden=[24]")
    try:
        job = s.wait("SELECT * FROM jobs WHERE id = 4 AND state IN ('promoted', 'rejected', 'failed')",
                     "the job with another architecture", proc)[0]
        assert stop(proc, executor) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    spec = json.loads(job["spec"])
    assert job["state"] != "failed", job["reason"]
    assert spec["warm_from"] == "" and "model.hidden" in spec["cold_start"], spec
