"""The retraining service's jobs: stopping one by hand or by signal, crash
safety (kill -9 and restart: weights equal to an uninterrupted job's,
registered exactly once), approval; a signal after a drift keeps its
reference, and a moved registry is refused. Tests that take `executor` run
with the local and the pool executor. Harness: service_harness.py."""
import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from harness import final_weights, must_msg
from service_harness import Svc, children, stop, wait_gone


@pytest.fixture(scope="module", params=["local", "pool"])
def executor(request):
    return request.param



def test_signal_stop_checkpoints_a_running_job_and_fails_it(workspace, executor):
    s = Svc(workspace, epochs=1200, every=100, executor=executor)
    proc = s.serve_bg()
    try:
        s.wait("SELECT id FROM jobs WHERE state = 'running' AND handle != ''", "the job", proc)
        p = workspace.run(["signal", "--config", s.config, "--stop", "1", "--reason", "wrong window", "--by", "ann"])
        assert p.returncode == 0, must_msg(p, "signal --stop")
        job = s.wait("SELECT * FROM jobs WHERE id = 1 AND state != 'running'", "the job to stop", proc)[0]
        p = workspace.run(["signal", "--config", s.config, "--stop", "1"])
        assert p.returncode == 2 and "only a queued or running job" in p.stderr, must_msg(p, "stop a failed job")
        p = workspace.run(["signal", "--config", s.config, "--stop", "7"])
        assert p.returncode == 2 and "no job 7" in p.stderr, must_msg(p, "stop a job that does not exist")
        assert stop(proc, executor) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert job["state"] == "failed", job
    assert "stopped by hand (signal 1 by ann: wrong window)" in job["reason"], job["reason"]
    ck = workspace.path("state", "jobs", "1", "run", "checkpoints")
    assert any(f.endswith(".json") for f in os.listdir(ck))
    assert not os.path.exists(workspace.path("registry", "registry.db")) or s.versions() == []


def test_a_signal_while_the_job_trains_queues_the_next_retrain_when_it_ends(workspace, executor):
    s = Svc(workspace, epochs=600, every=100, executor=executor)
    proc = s.serve_bg()
    try:
        s.wait("SELECT id FROM jobs WHERE state = 'running' AND handle != ''", "the initial job", proc)
        p = workspace.run(["signal", "--config", s.config, "--model", "demo", "--reason", "new labels"])
        assert p.returncode == 0, must_msg(p, "signal")
        job = s.wait("SELECT * FROM jobs WHERE id = 2 AND state IN ('promoted', 'rejected', 'failed')",
                     "the signalled retrain after the initial job", proc)[0]
        assert stop(proc, executor) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert job["trigger"] == "signal" and job["state"] != "failed", job
    first = s.rows("SELECT * FROM jobs WHERE id = 1")[0]
    assert first["state"] == "promoted" and job["queued_at"] >= first["ended_at"] - 1, (first, job)
    assert "waits: job 1 is running" in open(workspace.path("serve-bg.log")).read()


# ---- crash safety

@pytest.fixture(scope="module")
def straight_job(driftrun_paths, tmp_path_factory):
    """An uninterrupted long initial job: the weights a stopped one must end with."""
    from harness import Workspace
    ws = Workspace(*driftrun_paths, tmp_path_factory.mktemp("svc-straight-"))
    # Long enough (about 5 s of training) that a stop lands mid-job even on the pool,
    # whose jobs start at once; mpirun relays SIGTERM after a delay of its own
    # (1200 epochs since the hand-written MLP backward made steps faster).
    s = Svc(ws, ("--batches", "1"), epochs=1200, every=100)
    s.drop(s.batch(1))
    p = s.serve("--max-batches", "1")
    assert p.returncode == 0, must_msg(p, "serve (uninterrupted)")
    return final_weights(ws.path("state", "jobs", "1", "run"))



@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT to the process group"])
def test_stopped_during_a_job_resumes_to_the_uninterrupted_weights(workspace, straight_job, how, executor):
    s = Svc(workspace, ("--batches", "1"), epochs=1200, every=100, executor=executor)
    s.drop(s.batch(1))
    proc = s.serve_bg("--max-batches", "1", session=True)
    try:
        s.wait("SELECT id FROM jobs WHERE state = 'running' AND handle != ''", "the job", proc)
        ck = workspace.path("state", "jobs", "1", "run", "checkpoints")
        t0 = time.time()
        while not (os.path.isdir(ck) and any(f.endswith(".json") for f in os.listdir(ck))):
            assert time.time() - t0 < 120, "no checkpoint"
            time.sleep(0.05)
        ranks = children(proc.pid)
        if how.endswith("process group"):
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the service's whole group
        else:
            proc.send_signal(getattr(signal, how))
        code = proc.wait(timeout=120)
        # After `kill -9 mpirun` its ranks live on for about a second before Open
        # MPI notices; until then the old master rightly holds the state folder.
        wait_gone(ranks)
    finally:
        if proc.poll() is None:
            proc.kill()
    if how != "SIGKILL":
        # mpirun itself exits 1 when it was signalled, though every rank stopped cleanly.
        assert code == (0 if executor == "local" else 1), open(workspace.path("serve-bg.log")).read()[-3000:]
        job = s.rows("SELECT * FROM jobs WHERE id = 1")[0]
        assert job["state"] == "running" and "a restart continues it" in job["reason"], job
    p = s.serve("--max-batches", "1")
    assert p.returncode == 0, must_msg(p, f"serve after {how}")
    job = s.rows("SELECT * FROM jobs WHERE id = 1")[0]
    assert job["state"] == "promoted" and job["attempts"] >= 2, job
    assert len(s.versions()) == 1
    b = final_weights(workspace.path("state", "jobs", "1", "run"))
    assert sorted(straight_job) == sorted(b)
    for k in straight_job:
        assert np.array_equal(straight_job[k], b[k]), k


@pytest.mark.parametrize("second", ["a further shift", "the same shift"])
def test_drift_during_a_running_job_counts_against_the_version_it_makes(workspace, executor, second):
    """A drifted batch that arrives while the retrain runs waits for its end,
    then is scored again against the new production: a further shift queues
    the next retrain; more of the same shift (found by a stranger: its stale
    score against demo:1 queued a second retrain) does not drift against
    demo:2's reference, and retrains only when demo:2's loss on it says so."""
    s = Svc(workspace, ("--batches", "2", "--drift", "mean", "--drift-from", "1", "--drift-magnitude", "1.0"),
            epochs=450, every=100, executor=executor)
    b2 = s.batch(2)
    if second == "a further shift":
        workspace.make_data(workspace.path("data3"), "--rows", "4000", "--batch-rows", "600", "--batches", "2",
                            "--drift", "mean", "--drift-from", "1", "--drift-magnitude", "3.0")
        b2 = workspace.path("data3", "batch-002.h5")
    further = second == "a further shift"
    proc = s.serve_bg("--max-batches", "3" if further else "2")
    try:
        s.wait("SELECT id FROM jobs WHERE state = 'promoted'", "the initial model", proc)
        s.drop(s.batch(1))
        s.wait("SELECT id FROM jobs WHERE id = 2 AND state = 'running' AND handle != ''", "job 2 to run", proc)
        if further:  # two batches merge into job 2: both are scored again when it ends
            s.drop(workspace.path("data3", "batch-001.h5"), "shift-a.h5")
        s.drop(b2)
        assert proc.wait(timeout=300) == 0, open(workspace.path("serve-bg.log")).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    row = s.rows("SELECT * FROM batches WHERE file LIKE '%batch-002.h5'")[0]
    assert "count again when it ends" in row["reason"], row["reason"]
    assert "scored again against demo:2 after job 2 ended" in row["reason"], row["reason"]
    assert row["production"] == 2, row
    jobs = s.rows("SELECT * FROM jobs ORDER BY id")
    # Its action is what its new scores led to, not the "merge" of its first
    # (found by a stranger).
    assert row["action"] == ("queue" if len(jobs) == 3 else "none"), (row["action"], row["reason"], len(jobs))
    assert row["reason"].endswith(("(job 3)" if len(jobs) == 3 else "")), row["reason"]
    assert jobs[1]["state"] == "promoted", jobs[1]
    if further:
        # Found by a stranger: the older merged batch kept its first scores
        # and "merge" while the next job trained on it.
        older = s.rows("SELECT * FROM batches WHERE file LIKE '%shift-a.h5'")[0]
        assert "scored again against demo:2 after job 2 ended" in older["reason"], older["reason"]
        assert older["production"] == 2 and older["action"] == row["action"], older
    if second == "the same shift":
        # No data drift against the new version's reference (the batches since
        # the drift); a next retrain only if demo:2 is still worse on it than
        # on its holdout (concept drift), not for the stale data drift.
        assert not row["drifted"] and "no data drift" in row["reason"], row["reason"]
        assert len(jobs) == 2 or row["concept"], (row["reason"], jobs)
        return
    assert [j["trigger"] for j in jobs] == ["initial", "drift", "drift"], jobs
    assert any(w.endswith("batch-002.h5") for w in json.loads(jobs[2]["spec"])["window_batches"])
    assert not any(w.endswith("batch-002.h5") for w in json.loads(jobs[1]["spec"])["window_batches"])
    # Found by a stranger: the version of job 2 named batch-002 in its lineage
    # too (its trigger, service.batches), although it never trained on it.
    v = {r["version"]: r for r in s.versions()}
    by_job = {r["service"]["job"]: r for r in v.values() if "service" in r}
    for job, mine, not_mine in ((2, "batch-001.h5", "batch-002.h5"), (3, "batch-002.h5", None)):
        rec = by_job[job]
        names = [os.path.basename(f) for f in rec["service"]["batches"]]
        assert mine in names and not_mine not in names, (job, names)
        assert not_mine is None or not_mine not in rec["trigger"], (job, rec["trigger"])


def test_an_approval_after_production_moved_promotes_nothing(workspace, executor):
    s = Svc(workspace, ("--batches", "1", "--drift", "mean", "--drift-from", "1", "--drift-magnitude", "1.0"),
            executor=executor)
    reg = ["--registry", workspace.path("registry")]
    proc = s.serve_bg("--set", "retrain.promote=approval")
    try:
        def approve(v):
            p = workspace.run(["registry", "approve", f"demo:{v}", "--by", "ann"] + reg)
            assert p.returncode == 0, must_msg(p, f"approve demo:{v}")

        s.wait("SELECT id FROM jobs WHERE id = 1 AND reason LIKE 'waiting for approval%'", "job 1", proc)
        approve(1)
        s.wait("SELECT id FROM jobs WHERE id = 1 AND state = 'promoted'", "demo:1 in production", proc)
        s.drop(s.batch(1))
        s.wait("SELECT id FROM jobs WHERE id = 2 AND reason LIKE 'waiting for approval%'", "job 2", proc)
        assert workspace.run(["signal", "--config", s.config, "--model", "demo", "--reason", "r"]).returncode == 0
        s.wait("SELECT id FROM jobs WHERE id = 3 AND reason LIKE 'waiting for approval%'", "job 3", proc)
        approve(3)
        s.wait("SELECT id FROM jobs WHERE id = 3 AND state = 'promoted'", "demo:3 in production", proc)
        approve(2)  # stale: evaluated against demo:1
        job = s.wait("SELECT * FROM jobs WHERE id = 2 AND state IN ('promoted', 'rejected')", "job 2's end", proc)[0]
        assert stop(proc, executor) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert job["state"] == "rejected" and "production moved to demo:3" in job["reason"], job["reason"]
    assert "production" in {r["version"]: r for r in s.versions()}[3]["aliases"]
    # Found by review: the verdict said "promoted:" while the version waited for a person.
    verdict = json.loads(s.rows("SELECT verdict FROM jobs WHERE id = 3")[0]["verdict"])
    assert verdict["promote"] and verdict["reason"].startswith("to be promoted once approved: "), verdict


def test_approval_mode_waits_for_registry_approve(workspace, executor):
    s = Svc(workspace, executor=executor)
    proc = s.serve_bg("--set", "retrain.promote=approval")
    try:
        job = s.wait("SELECT * FROM jobs WHERE state = 'registered' AND reason LIKE 'waiting for approval%'",
                     "the job to wait for approval", proc)[0]
        assert "driftrun registry approve demo:1" in job["reason"]
        assert "production" not in s.versions()[0]["aliases"]
        # Found by a stranger: a restart with promote = "auto" promoted the version still waiting for a person.
        assert stop(proc, executor) == 0
        proc = s.serve_bg("--set", "retrain.promote=auto")
        time.sleep(3)
        assert proc.poll() is None, open(workspace.path("serve-bg.log")).read()[-3000:]
        assert s.rows("SELECT state FROM jobs WHERE id = 1")[0]["state"] == "registered"
        assert "production" not in s.versions()[0]["aliases"], "promoted without an approval"
        p = workspace.run(["registry", "approve", "demo:1", "--by", "ann", "--registry", workspace.path("registry")])
        assert p.returncode == 0, must_msg(p, "registry approve")
        s.wait("SELECT id FROM jobs WHERE state = 'promoted'", "the promotion after the approval", proc)
        assert stop(proc, executor) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "production" in s.versions()[0]["aliases"]


@pytest.mark.parametrize("state", ["trained", "evaluated", "registered"])
def test_kill_9_between_states_registers_exactly_once(workspace, state, executor):
    s = Svc(workspace, ("--batches", "1"), executor=executor)
    s.drop(s.batch(1))
    p = s.serve("--max-batches", "1", env={"DRIFTRUN_SERVICE_KILL_AFTER": state})
    # Under mpirun the master rank dies by SIGKILL and mpirun ends the world.
    if executor == "local":
        assert p.returncode == -signal.SIGKILL, must_msg(p, f"serve killed after {state}")
    else:
        assert p.returncode != 0, must_msg(p, f"serve killed after {state}")
    assert s.rows("SELECT state FROM jobs WHERE id = 1")[0]["state"] == state
    p = s.serve("--max-batches", "1")
    assert p.returncode == 0, must_msg(p, "serve after the crash")
    assert [j["state"] for j in s.rows("SELECT * FROM jobs")] == ["promoted"]
    v = s.versions()
    assert len(v) == 1 and "production" in v[0]["aliases"]
    events = [e["state"] for e in s.rows("SELECT state FROM job_events WHERE job = 1 ORDER BY id")]
    assert events.count("registered") >= 1 and events[-1] == "promoted"


def test_a_missing_exporter_is_refused_at_start_not_after_training(workspace):
    """driftrun copied without driftrun-export beside it: serve exits 5 at once,
    naming the missing file, before any job trains (it used to retry at every
    poll after the first job had trained, then give up)."""
    svc = Svc(workspace, epochs=1)
    lone = workspace.path("bin", "driftrun")
    os.makedirs(os.path.dirname(lone))
    shutil.copy2(workspace.driftrun, lone)
    p = subprocess.run([lone, "serve", "--config", svc.config, "--executor", "local"], cwd=workspace.tmp,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 5, must_msg(p, "serve without its exporter")
    assert "driftrun-export' is missing" in p.stderr, p.stderr
    assert not os.path.exists(workspace.path("state", "journal.db"))


def test_a_signal_after_a_drift_keeps_its_reference_and_a_moved_registry_is_refused(workspace):
    """Found by a stranger: (1) a signal's job profiled all its training data,
    mostly the regime before the drift, so every later batch drifted again;
    it now starts where production's reference starts. (2) With [registry]
    path changed between restarts the service waited for ever in silence."""
    s = Svc(workspace, ("--batches", "1", "--drift", "mean", "--drift-from", "1", "--drift-magnitude", "1.0"))
    proc = s.serve_bg()
    try:
        s.wait("SELECT id FROM jobs WHERE id = 1 AND state = 'promoted'", "the initial model", proc)
        s.drop(s.batch(1))
        s.wait("SELECT id FROM jobs WHERE id = 2 AND state IN ('promoted', 'rejected')", "the drift retrain", proc)
        p = workspace.run(["signal", "--config", s.config, "--model", "demo", "--reason", "new settings"])
        assert p.returncode == 0, must_msg(p, "signal")
        s.wait("SELECT id FROM jobs WHERE id = 3 AND state IN ('promoted', 'rejected', 'failed')", "job 3", proc)
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    jobs = {j["id"]: j for j in s.rows("SELECT * FROM jobs")}
    assert jobs[2]["state"] == "promoted", jobs[2]["reason"]
    ref2, ref3 = (json.loads(jobs[k]["spec"])["reference"] for k in (2, 3))
    assert ref2["from"] == "drift", ref2
    assert ref3["from"] == "drift" and ref3["files"] == ref2["files"], (ref2, ref3)
    assert "demo:2's reference starts from" in ref3["why"], ref3
    p = s.serve("--set", 'registry.path="registry-elsewhere"', "--max-batches", "1")
    assert p.returncode == 2, must_msg(p, "serve with another registry")
    assert "does not exist" in p.stderr and ("job 2" in p.stderr or "job 3" in p.stderr), p.stderr
    assert "[registry] path" in p.stderr, p.stderr
    assert not os.path.exists(workspace.path("registry-elsewhere")), "a refused serve made a registry folder"
    # status reads the same journal and registry: not "production: none yet" with exit 0.
    st = workspace.run(["status", "--config", s.config, "--set", 'registry.path="registry-elsewhere"'],
                       cwd=workspace.tmp)
    assert st.returncode == 2 and "does not exist" in st.stderr, must_msg(st, "status, a missing registry")
    # Found by a stranger: another registry with a production version of its own was taken as the service's.
    t = workspace.run(["train", "--config", workspace.path("model.toml"), "--set", 'registry.path="other-reg"',
                       "--set", "registry.register=true", "--set", "train.epochs=1", "--run-dir",
                       workspace.path("other-run"), "--quiet"], cwd=workspace.tmp)
    assert t.returncode == 0, must_msg(t, "train into another registry")
    p = workspace.run(["registry", "promote", "demo:1", "--alias", "production", "--by", "me", "--reason", "x",
                       "--registry", workspace.path("other-reg")])
    assert p.returncode == 0, must_msg(p, "promote in the other registry")
    for cmd in (["status"], ["serve", "--max-batches", "1"], ["replay", "--batches", workspace.path("incoming")]):
        p = workspace.run(cmd + ["--config", s.config, "--set", 'registry.path="other-reg"'], cwd=workspace.tmp)
        assert p.returncode == 2 and ("has no demo:" in p.stderr or "did not register" in p.stderr), \
            must_msg(p, f"{cmd[0]} with another registry")
    ok = workspace.run(["status", "--config", s.config, "--json"], cwd=workspace.tmp)
    assert ok.returncode == 0 and json.loads(ok.stdout)["models"][0]["production"] >= 2, must_msg(ok, "status")
