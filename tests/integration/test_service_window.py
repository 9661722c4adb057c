"""The retraining service's training window: which batches a job trains on
(renamed and copied batches, the batch that triggered it, the model's own
training data changing under a running service), and a half-written batch
quarantined, then sent again. Harness: service_harness.py."""
import json
import os
import time

import h5py

from harness import must_msg
from service_harness import Svc, stop


def test_a_batch_renamed_in_the_incoming_folder_still_trains_once(workspace):
    """Found by a stranger: a scored batch renamed in the incoming folder was
    left out as removed, and its new name, a duplicate, never trained: the
    data was lost. A copy that still holds the bytes stands in for it."""
    s = Svc(workspace, ("--batches", "1"), epochs=1)
    s.drop(s.batch(1))
    p = s.serve("--max-batches", "1")
    assert p.returncode == 0, must_msg(p, "serve, batch 1")
    os.rename(workspace.path("incoming", "batch-001.h5"), workspace.path("incoming", "renamed.h5"))
    p = s.serve("--max-batches", "2")
    assert p.returncode == 0, must_msg(p, "serve, the renamed batch")
    dup = s.rows("SELECT * FROM batches WHERE file LIKE '%renamed.h5'")[0]
    assert dup["decision"] == "duplicate", dup
    p = workspace.run(["signal", "--config", s.config, "--model", "demo", "--reason", "the renamed batch"],
                      cwd=workspace.tmp)
    assert p.returncode == 0, must_msg(p, "signal")
    p = s.serve("--max-batches", "2")
    assert p.returncode == 0, must_msg(p, "serve, the signal's job")
    job = s.rows("SELECT * FROM jobs ORDER BY id DESC")[0]
    spec = json.loads(job["spec"])
    assert job["trigger"] == "signal" and job["state"] in ("promoted", "rejected"), (job["state"], job["reason"])
    # Trained from the batch's kept copy, linked again from the renamed file.
    assert [os.path.relpath(f, workspace.path("state")).split(os.sep)[:2] for f in spec["window_batches"]] == \
        [["batches", "demo"]], spec
    assert spec["left_out"] == [], spec["left_out"]
    # Removed under every name, it is left out.
    os.remove(workspace.path("incoming", "renamed.h5"))
    p = workspace.run(["signal", "--config", s.config, "--model", "demo", "--reason", "nothing left"],
                      cwd=workspace.tmp)
    assert p.returncode == 0, must_msg(p, "signal")
    p = s.serve("--max-batches", "2")
    assert p.returncode == 0, must_msg(p, "serve, the second signal's job")
    spec = json.loads(s.rows("SELECT * FROM jobs ORDER BY id DESC")[0]["spec"])
    assert spec["window_batches"] == [] and [os.path.basename(x["file"]) for x in spec["left_out"]] == \
        ["batch-001.h5"], spec
    # Found by a stranger: a copy of the training data dropped as a batch
    # trained its rows twice (and counted its held-out rows twice).
    s.drop(workspace.path("data", "train.h5"), "trainedcopy.h5")
    p = s.serve("--max-batches", "3")
    assert p.returncode == 0, must_msg(p, "serve, a copy of train.h5")
    copy = s.rows("SELECT * FROM batches WHERE file LIKE '%trainedcopy.h5'")[0]
    assert copy["decision"] == "duplicate" and "data.train" in copy["reason"], copy
    # A duplicate is in no trigger's batches (the lineage of a job).
    assert [r["consumed_by"] for r in s.rows("SELECT * FROM batches WHERE decision = 'duplicate'")] == [None, None]


def test_the_batch_that_triggered_a_retrain_is_in_its_window(workspace):
    """Found by a stranger: a drifted batch followed by retrain.window clean
    labelled ones fell out of the window, and its job failed with "every
    labelled batch that triggered this retrain was left out": the drift was
    never retrained. The newest batch that triggered it takes the oldest place."""
    s = Svc(workspace, ("--batches", "1", "--drift", "mean", "--drift-from", "1", "--drift-magnitude", "1.5"),
            epochs=1)
    workspace.make_data(workspace.path("clean"), "--rows", "4000", "--batch-rows", "600", "--batches", "3")
    s.drop(s.batch(1), "x.h5")
    for k in (1, 2, 3):
        s.drop(workspace.path("clean", f"batch-{k:03d}.h5"), f"n{k}.h5")
    p = s.serve("--max-batches", "4")
    assert p.returncode == 0, must_msg(p, "serve")
    x = s.rows("SELECT * FROM batches WHERE file LIKE '%x.h5'")[0]
    assert x["drifted"] and x["action"] == "queue", x
    job = s.rows("SELECT * FROM jobs WHERE trigger = 'drift'")[0]
    assert job["state"] in ("promoted", "rejected"), (job["state"], job["reason"])
    spec = json.loads(job["spec"])
    names = [os.path.basename(f) for f in spec["window_batches"]]
    assert names == ["x.h5", "n2.h5", "n3.h5"], names  # retrain.window = 3: the trigger takes n1's place
    assert [os.path.basename(x["file"]) for x in spec["left_out"]] == ["n1.h5"], spec["left_out"]
    assert "x.h5 took its place" in spec["left_out"][0]["why"], spec["left_out"]


# ---- stopping a job by hand


def test_training_data_that_stops_reading_while_serving_never_quarantines_a_batch(workspace):
    """The model's own training data rewritten under a running service (here:
    without its labels) is not the batch's fault: before, the labelled batch
    that could not join it was quarantined. It waits, retried at each poll,
    and is scored once the training data reads again."""
    s = Svc(workspace, ("--batches", "2"), epochs=1)
    s.drop(s.batch(1))
    p = s.serve("--max-batches", "1")
    assert p.returncode == 0, must_msg(p, "serve, batch 1")
    train = workspace.path("data", "train.h5")
    log = workspace.path("serve-bg.log")

    def wait_log(text):
        t0 = time.time()
        while text not in (open(log).read() if os.path.exists(log) else ""):
            assert proc.poll() is None and time.time() - t0 < 25, f"no '{text}' in the log:\n" + open(log).read()
            time.sleep(0.2)

    proc = s.serve_bg("--set", "service.poll_s=1")  # 30 polls (30 s) before it gives up
    try:
        wait_log("serving 1 model")  # serve refuses at start a model whose training data does not read
        os.rename(train, train + ".saved")
        with h5py.File(train + ".saved", "r") as src, h5py.File(train, "w") as dst:
            dst["features"] = src["features"][()]
            dst.attrs["feature_names"] = src.attrs["feature_names"]
        s.drop(s.batch(2))
        wait_log("will retry")
        os.replace(train + ".saved", train)
        row = s.wait("SELECT * FROM batches WHERE file LIKE '%batch-002.h5'", "batch 2 to be scored", proc)[0]
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = open(log).read()
    assert "its own training data does not read" in text and "batch-002.h5 waits" in text, text[-3000:]
    assert row["decision"] == "scored", row
    assert not os.path.exists(workspace.path("state", "quarantine")) or \
        os.listdir(workspace.path("state", "quarantine", "demo")) == [], row


def test_a_job_whose_training_file_was_replaced_while_it_trained_fails(workspace):
    """Found by a stranger: data/train.h5 regenerated (make-data, another seed)
    while a job trained; the job's verdict was measured on the new file's
    holdout rows and its version named the new file's bytes as its data,
    exit 0. The job now fails at evaluation, saying why; nothing registered."""
    s = Svc(workspace, ("--batches", "1"), epochs=1200, every=100)
    workspace.make_data(workspace.path("other"), "--rows", "4000", "--seed", "99")
    proc = s.serve_bg()
    try:
        s.wait("SELECT id FROM jobs WHERE state = 'running' AND handle != ''", "the initial job", proc)
        events = workspace.path("state", "jobs", "1", "run", "events.jsonl")
        t0 = time.time()
        while not os.path.exists(events):  # the run folder is made once the data is read
            assert time.time() - t0 < 120 and proc.poll() is None, open(workspace.path("serve-bg.log")).read()
            time.sleep(0.1)
        os.replace(workspace.path("other", "train.h5"), workspace.path("data", "train.h5"))
        job = s.wait("SELECT * FROM jobs WHERE id = 1 AND state IN ('failed', 'promoted', 'rejected')",
                     "the job to end", proc)[0]
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert job["state"] == "failed" and "is not the file run" in job["reason"], job
    assert not os.path.exists(workspace.path("registry", "registry.db")) or s.versions() == []


def test_training_data_with_other_columns_than_production_is_refused_at_start(workspace):
    """Found by a stranger: data.train changed to another column set between
    two runs of serve; it started, then quarantined every batch with a reason
    that blamed the batch. serve now refuses at start (exit 2), naming the
    columns and production's version, before it scores anything."""
    s = Svc(workspace, ("--batches", "2"), epochs=1)
    s.drop(s.batch(1))
    p = s.serve("--max-batches", "1")
    assert p.returncode == 0, must_msg(p, "serve, batch 1")
    workspace.make_data(workspace.path("narrow"), "--rows", "4000", "--features", "6")
    os.replace(workspace.path("narrow", "train.h5"), workspace.path("data", "train.h5"))
    s.drop(s.batch(2))
    p = s.serve("--max-batches", "2")
    assert p.returncode == 2 and "production demo:1" in p.stderr and "model.toml" in p.stderr, \
        must_msg(p, "serve with other training columns")
    assert len(s.rows("SELECT * FROM batches")) == 1, "nothing scored after the refusal"
    assert not os.path.exists(workspace.path("state", "quarantine"))


def test_status_reads_the_service_as_serve_runs_it(workspace):
    """Found by a stranger: `serve --set trigger.max_per_day=2`, then `status`
    without it said "next retrain allowed now". status, replay and signal take
    the --set values the service was started with (state/serve.json), paths
    resolved from serve's folder, then their own."""
    s = Svc(workspace, ("--batches", "1"), epochs=1)
    os.makedirs(workspace.path("elsewhere"))
    s.drop(s.batch(1))
    os.replace(workspace.path("incoming", "batch-001.h5"), workspace.path("elsewhere", "batch-001.h5"))
    p = s.serve("--max-batches", "1", "--set", 'monitor.incoming="elsewhere"', "--set", "trigger.max_per_day=7")
    assert p.returncode == 0, must_msg(p, "serve --set")
    other = workspace.path("other-folder")
    os.makedirs(other)
    p = workspace.run(["status", "--config", s.config, "--json"], cwd=other)
    assert p.returncode == 0, must_msg(p, "status")
    model = json.loads(p.stdout)["models"][0]
    assert model["incoming"] == workspace.path("elsewhere"), model["incoming"]
    assert "trigger.max_per_day=7" in p.stderr and "serve.json" in p.stderr, p.stderr
    p = workspace.run(["status", "--config", s.config, "--json", "--set", 'monitor.incoming="mine"'], cwd=other)
    assert json.loads(p.stdout)["models"][0]["incoming"] == os.path.join(other, "mine"), "its own --set wins"


def test_a_half_written_batch_quarantined_is_read_when_sent_again_complete(workspace):
    """Found by review: a batch quarantined half-written gave no advice, and
    the same bytes dropped again under its name were ignored without a word."""
    s = Svc(workspace, ("--batches", "1"), epochs=1)
    with open(s.batch(1), "rb") as f:
        whole = f.read()
    half = workspace.path("half.h5")
    with open(half, "wb") as f:
        f.write(whole[:len(whole) // 2])
    log = workspace.path("serve-bg.log")
    proc = s.serve_bg()
    try:
        s.wait("SELECT id FROM jobs WHERE id = 1 AND state = 'promoted'", "the initial model", proc)
        s.drop(half, "b.h5")
        q = s.wait("SELECT * FROM batches WHERE decision = 'quarantined'", "the half-written batch", proc)[0]
        assert "send it again" in q["reason"] and "rename it into place" in q["reason"], q["reason"]
        s.drop(half, "b.h5")  # the same bytes again: not read, and said so
        t0 = time.time()
        while "has the bytes batch" not in open(log).read():
            assert time.time() - t0 < 60 and proc.poll() is None, open(log).read()[-3000:]
            time.sleep(0.2)
        time.sleep(2)  # a few more polls: said once
        s.drop(s.batch(1), "b.h5")  # complete now: new bytes at the same path are a new batch
        s.wait("SELECT id FROM batches WHERE decision != 'quarantined'", "the complete batch", proc)
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert open(log).read().count("has the bytes batch") == 1, open(log).read()[-3000:]
    assert len(s.rows("SELECT * FROM batches WHERE decision = 'quarantined'")) == 1
