"""Run folders under concurrent and broken use: a lock per run folder (a second
train on it exits 2 naming the holder; a dead holder's lock is taken over with
a warning), one folder per run even when two start in the same second, no
temporary files left by a killed writer survive the next start, and a resumed
run does not repeat rows in metrics.jsonl."""
import glob
import json
import os
import socket
import subprocess
import time

import pytest

from harness import must_msg, read_jsonl

CONFIG = """
name = "lockrun"
[data]
train = "{train}"
[model]
hidden = [16]
[train]
epochs = {epochs}
batch_size = 64
lr = 1e-3
[checkpoint]
every_steps = 0
keep = 10
"""
# 1800 train rows / 64 = 28 steps per epoch (the last partial batch is dropped).


@pytest.fixture(scope="module")
def ws(module_workspace):
    module_workspace.make_data(module_workspace.path("data"), "--rows", "2000", "--features", "6")
    return module_workspace


def config(ws, name, epochs=3):
    return ws.write_config(name, CONFIG.format(train=ws.path("data/train.h5"), epochs=epochs))


def popen(ws, args, env=None, cwd=None):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.Popen([ws.driftrun] + args, cwd=cwd or ws.tmp, env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_second_train_on_a_locked_run_folder_is_refused_naming_the_holder(ws):
    cfg = config(ws, "lock.toml", epochs=400)
    d = ws.path("locked")
    # The first run holds the folder for certain: it sleeps 15 s before step 6
    # (training alone can finish before the others start on a fast step).
    first = popen(ws, ["train", "--config", cfg, "--run-dir", d, "--quiet"],
                  env={"DRIFTRUN_FAULT_SLEEP_AT_STEP": "5", "DRIFTRUN_FAULT_SLEEP_S": "15"})
    try:
        for _ in range(600):  # until the first has locked the folder
            if os.path.exists(f"{d}/run.lock") and os.path.getsize(f"{d}/run.lock") > 0:
                break
            time.sleep(0.05)
        second = ws.run(["train", "--config", cfg, "--run-dir", d, "--resume", "auto", "--quiet"])
        assert second.returncode == 2, must_msg(second, "second train on a locked folder")
        assert f"pid={first.pid}" in second.stderr and "in use" in second.stderr, second.stderr
        third = ws.run(["train", "--config", cfg, "--run-dir", d, "--overwrite", "--quiet"])
        assert third.returncode == 2 and f"pid={first.pid}" in third.stderr, third.stderr
    finally:
        first.terminate()  # a stop signal: checkpoint and exit 0
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert not os.path.exists(f"{d}/run.lock"), "the lock file outlives its run"
    assert glob.glob(f"{d}/checkpoints/ckpt-*.json"), "the stopped first run left no checkpoint"


def test_lock_of_a_dead_process_is_taken_over_with_a_warning(ws):
    cfg = config(ws, "stale.toml", epochs=1)
    d = ws.path("stale")
    os.makedirs(d)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(f"{d}/run.lock", "w") as f:  # what kill -9 leaves: the file, no flock
        f.write(f"host={socket.gethostname()} pid={dead.pid}\n")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"])
    assert p.returncode == 0, must_msg(p, "train over a stale lock")
    assert "stale lock" in p.stderr and f"process {dead.pid}" in p.stderr, p.stderr
    assert os.path.exists(f"{d}/summary.json")


def test_runs_started_in_the_same_second_get_their_own_folders(ws):
    cfg = config(ws, "same.toml", epochs=1)
    sub = ws.path("same-second")
    os.makedirs(sub)
    procs = [popen(ws, ["train", "--config", cfg, "--quiet"], cwd=sub) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    folders = sorted(glob.glob(os.path.join(sub, "runs", "lockrun-*")))
    assert len(folders) == 3, folders
    for f in folders:
        summaries = json.load(open(f"{f}/summary.json"))
        assert summaries["status"] == "done"
        assert len(read_jsonl(f"{f}/metrics.jsonl")) == 1, f"{f} mixes two runs' metrics"


def test_a_killed_writers_temp_files_are_removed_and_resume_does_not_repeat_metrics(ws):
    cfg = config(ws, "temps.toml", epochs=4)
    d = ws.path("temps")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--set", "checkpoint.every_steps=28"],
               env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "100"})
    assert p.returncode == 0, must_msg(p, "the stopped run")
    rows = read_jsonl(f"{d}/metrics.jsonl")
    assert [r["step"] for r in rows] == [28, 56, 84], rows
    # The run was killed (-9) after epoch 3's metrics row, before its checkpoint,
    # and mid-way through writing a checkpoint and the summary.
    for m in sorted(glob.glob(f"{d}/checkpoints/ckpt-*.json"))[-2:]:
        if json.load(open(m))["step"] > 56:
            os.remove(m)
            os.remove(m[:-5] + ".h5")
    for junk in ["checkpoints/ckpt-000000087.h5.tmp.4242", "summary.json.tmp.4242"]:
        open(f"{d}/{junk}", "w").write("half")
    r = ws.run(["train", "--config", cfg, "--run-dir", d, "--resume", "auto", "--quiet",
                "--set", "checkpoint.every_steps=28"])
    assert r.returncode == 0, must_msg(r, "resume")
    assert not glob.glob(f"{d}/**/*.tmp.*", recursive=True), os.listdir(f"{d}/checkpoints")
    steps = [row["step"] for row in read_jsonl(f"{d}/metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == 112, steps


def folder_digest(d):
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                # The time too: found by a stranger, the report was written
                # again with the same bytes.
                out[os.path.relpath(os.path.join(root, f), d)] = (hash(fh.read()),
                                                                  os.stat(os.path.join(root, f)).st_mtime_ns)
    return out


def test_a_stop_on_the_last_step_finishes_and_a_finished_run_resumed_changes_nothing(ws):
    cfg = config(ws, "last.toml", epochs=2)
    d = ws.path("last-step")
    onnx = ["--set", "export.onnx=true"]
    # The stop request arrives with step 56, the last one: the run is complete.
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"] + onnx,
               env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "55"})
    assert p.returncode == 0, must_msg(p, "stop on the last step")
    s = json.load(open(f"{d}/summary.json"))
    assert s["status"] == "done" and s["steps"] == 56, s
    assert s["val_loss"] is not None and 0 < s["samples_per_s"] < 1e8, s
    assert os.path.exists(f"{d}/model.onnx"), "a run stopped on its last step skipped the export"

    before = folder_digest(d)
    r = ws.run(["train", "--config", cfg, "--run-dir", d, "--resume", "auto"] + onnx)
    assert r.returncode == 0, must_msg(r, "resume of a finished run")
    assert "already finished" in r.stdout, r.stdout
    # --quiet hides the notice, never the warning that a config change was not applied.
    r = ws.run(["train", "--config", cfg, "--run-dir", d, "--resume", "auto", "--quiet", "--allow-config-change",
                "--set", "train.lr=0.5"] + onnx)
    assert r.returncode == 0 and "config changes are not applied" in r.stderr, must_msg(r, "quiet resume")
    assert folder_digest(d) == before, "resuming a finished run changed its folder"

    # Killed after the last checkpoint, before the summary and the export.
    os.remove(f"{d}/summary.json")
    os.remove(f"{d}/model.onnx")
    final = sorted(glob.glob(f"{d}/checkpoints/ckpt-*.h5"))[-1]
    final_bytes = open(final, "rb").read()
    r = ws.run(["train", "--config", cfg, "--run-dir", d, "--resume", "auto", "--quiet"] + onnx)
    assert r.returncode == 0, must_msg(r, "resume at the last step")
    s2 = json.load(open(f"{d}/summary.json"))
    assert s2["status"] == "done" and s2["steps"] == 56, s2
    assert abs(s2["val_loss"] - s["val_loss"]) < 1e-9, (s2, s)
    assert s2["samples_per_s"] is None, "no step ran in this process: no throughput"
    assert os.path.exists(f"{d}/model.onnx")
    assert open(final, "rb").read() == final_bytes, "nothing was trained, yet the checkpoint was rewritten"


def test_resume_auto_of_a_run_without_a_valid_checkpoint_is_refused(ws):
    """The only checkpoint is corrupt: starting over in place would mix two runs."""
    cfg = config(ws, "corrupt.toml", epochs=2)
    d = ws.path("corrupt-only")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--set", "checkpoint.keep=1"])
    assert p.returncode == 0, must_msg(p, "the run")
    (h5,) = glob.glob(f"{d}/checkpoints/ckpt-*.h5")
    data = bytearray(open(h5, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(h5, "wb").write(bytes(data))
    rows = open(f"{d}/metrics.jsonl").read()
    r = ws.run(["train", "--config", cfg, "--run-dir", d, "--resume", "auto", "--quiet",
                "--set", "checkpoint.keep=1"])
    assert r.returncode == 3 and "no valid checkpoint" in r.stderr and "--overwrite" in r.stderr, \
        must_msg(r, "resume auto with only a corrupt checkpoint")
    assert open(f"{d}/metrics.jsonl").read() == rows, "the refused resume wrote metrics"
    # predict and export never fall back silently to an older checkpoint either
    e = ws.run(["export", "--run", d, "--out", ws.path("corrupt.onnx")])
    assert e.returncode == 3 and "no valid checkpoint" in e.stderr, must_msg(e, "export of the run")



def test_a_stop_signal_in_the_first_moments_is_handled(ws):
    """SIGUSR1 while LibTorch's static initializers run (about 0.4 s before main):
    the handlers are already there (installed from .preinit_array), so the run
    stops cleanly at its first step. The dynamic loader's own trace (LD_DEBUG)
    says when LibTorch's initializer is called: the signal is sent then."""
    import signal
    cfg = config(ws, "early.toml", epochs=50)
    d = ws.path("early-signal")
    p = popen(ws, ["train", "--config", cfg, "--run-dir", d, "--noprogress"], env={"LD_DEBUG": "files"})
    seen = False
    for line in p.stderr:
        if "calling init:" in line and "libtorch_cpu" in line:
            p.send_signal(signal.SIGUSR1)
            seen = True
            break
    out, _ = p.communicate(timeout=300)
    assert seen, "the loader never said it initializes libtorch_cpu"
    assert p.returncode == 0, f"exit {p.returncode}: killed by the signal before its handler existed"
    assert "stopped by signal" in out and "--resume auto" in out, out[-800:]
    assert glob.glob(f"{d}/checkpoints/ckpt-*.json")


def test_predict_and_export_refuse_a_run_whose_newest_checkpoint_is_invalid(ws):
    cfg = config(ws, "newest.toml", epochs=2)
    d = ws.path("newest-bad")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--set", "checkpoint.every_steps=28"])
    assert p.returncode == 0, must_msg(p, "the run")
    manifests = sorted(glob.glob(f"{d}/checkpoints/ckpt-*.json"))
    assert len(manifests) >= 2, manifests
    m = json.load(open(manifests[-1]))
    m["file"] = "../elsewhere.h5"  # a manifest pointing outside its folder
    json.dump(m, open(manifests[-1], "w"))
    for args in (["predict", "--run", d, "--in", ws.path("data/train.h5"), "--out", ws.path("newest-y.h5")],
                 ["export", "--run", d, "--out", ws.path("newest.onnx")]):
        r = ws.run(args)
        assert r.returncode == 3 and "newest checkpoint" in r.stderr and "its own folder" in r.stderr, \
            must_msg(r, args[0])
        assert not os.path.exists(args[-1]), f"{args[0]} wrote output from an older checkpoint"
    r = ws.run(["train", "--config", cfg, "--run-dir", d, "--resume", manifests[-1], "--quiet"])
    assert r.returncode == 3, must_msg(r, "--resume naming the bad manifest")


def test_an_epoch_stopped_by_max_steps_and_continued_has_one_row(ws):
    """Found by a stranger: the partial row of the epoch max_steps ended in
    stayed beside the epoch's full row after the resume."""
    cfg = config(ws, "partial.toml", epochs=3)
    d = ws.path("partial")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--set", "train.max_steps=40"])
    assert p.returncode == 0, must_msg(p, "the run up to max_steps")
    rows = read_jsonl(f"{d}/metrics.jsonl")
    assert [(r["epoch"], r["step"], r.get("partial", False)) for r in rows] == [(1, 28, False), (2, 40, True)], rows
    r = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--resume", "auto", "--set", "train.max_steps=0",
                "--allow-config-change"])
    assert r.returncode == 0, must_msg(r, "the resume")
    rows = read_jsonl(f"{d}/metrics.jsonl")
    assert [(r["epoch"], r["step"]) for r in rows] == [(1, 28), (2, 56), (3, 84)], rows
    assert not any(r.get("partial") for r in rows), rows


def test_overwrite_deletes_the_run_and_nothing_of_the_users(ws):
    """Found by a stranger: --overwrite deleted a file of theirs kept in the
    run's checkpoints/ folder."""
    cfg = config(ws, "keep.toml", epochs=1)
    d = ws.path("keep")
    assert ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"]).returncode == 0
    for name in ("checkpoints/mybest.pt", "notes.txt"):
        with open(os.path.join(d, name), "w") as f:
            f.write("mine")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--overwrite"])
    assert p.returncode == 0, must_msg(p, "--overwrite")
    for name in ("checkpoints/mybest.pt", "notes.txt"):
        assert open(os.path.join(d, name)).read() == "mine", name
    assert len(read_jsonl(f"{d}/metrics.jsonl")) == 1
