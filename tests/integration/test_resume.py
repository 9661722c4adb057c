"""Exact resume: a run stopped by SIGTERM mid-epoch and resumed ends with exactly
the weights of an uninterrupted run (CPU, same seed, dropout on); resuming on
another number of ranks works and converges; a corrupt newest checkpoint is
skipped with a warning; real signals (SIGTERM to a rank, SIGUSR1 to mpirun) stop
every rank cleanly with a resumable checkpoint. The exactness tests run twice:
with the shards held in memory and streamed (data.memory_mb below the data's
size, small chunks: windows of 128 rows, batches straddling them)."""
import glob
import os
import re
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from harness import checkpoint_arrays, final_weights, must_msg, read_jsonl, summary

CONFIG = """
name = "resume"
[data]
train = "{train}"
[model]
hidden = [32, 32]
dropout = 0.1
[train]
epochs = 3
batch_size = 48
optimizer = "adamw"
lr = 2e-3
weight_decay = 0.01
schedule = "cosine"
[checkpoint]
every_steps = 10
keep = 3
"""
# 2160 train rows / 48 = 45 steps per epoch, 135 in all; stop at 61 = mid epoch 2.
STREAM = ["--set", "data.memory_mb=0.05", "--set", "data.stream_chunk_rows=128"]
MODES = ("memory", "stream")


class Runs:
    def __init__(self, ws):
        self.ws = ws
        ws.make_data(ws.path("data"), "--rows", "2400", "--features", "8")
        self.cfg = ws.write_config("resume.toml", CONFIG.format(train=ws.path("data/train.h5")))

    def train(self, run_dir, ranks, *extra, env=None, mode="memory"):
        extra = list(extra) + (STREAM if mode == "stream" else [])
        return self.ws.run(["train", "--config", self.cfg, "--run-dir", run_dir, "--quiet"] + extra,
                           ranks=ranks, env=env)

    def full(self, ranks, mode="memory"):
        """The uninterrupted run on `ranks` ranks: (process, run dir), run once."""
        def run():
            d = self.ws.path(f"full-{ranks}-{mode}")
            return self.train(d, ranks if ranks > 1 else None, mode=mode), d
        return self.ws.once(("full", ranks, mode), run)

    def cut(self, ranks, mode="memory"):
        """The run stopped by SIGTERM at step 61: (process, run dir, its stop events,
        whether it left a summary), read before it is resumed."""
        def run():
            d = self.ws.path(f"cut-{ranks}-{mode}")
            p = self.train(d, ranks if ranks > 1 else None, env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "61"},
                           mode=mode)
            events = read_jsonl(f"{d}/events.jsonl") if os.path.exists(f"{d}/events.jsonl") else None
            return p, d, events, os.path.exists(f"{d}/summary.json")
        return self.ws.once(("cut", ranks, mode), run)

    def resumed(self, ranks, mode="memory"):
        """The stopped run resumed with --resume auto: (process, run dir). A
        streamed run resumes without the streaming flags: its checkpoint keeps
        the order."""
        def run():
            _, d, _, _ = self.cut(ranks, mode)
            return self.train(d, ranks if ranks > 1 else None, "--resume", "auto"), d
        return self.ws.once(("resumed", ranks, mode), run)


@pytest.fixture(scope="module")
def runs(module_workspace):
    return Runs(module_workspace)


def exactly_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ranks", (1, 2))
def test_uninterrupted_run(runs, ranks, mode):
    p, d = runs.full(ranks, mode)
    assert p.returncode == 0, must_msg(p, f"{ranks} rank(s), {mode}: uninterrupted run")
    data = summary(d)["data"]
    assert data["mode"] == mode, f"{ranks} rank(s): the run {'streamed' if mode == 'stream' else 'held'} " \
        f"its data: {data}"


@pytest.mark.parametrize("ranks", (1, 2))
def test_sigterm_stops_at_step_boundary(runs, ranks):
    p, cut, events, has_summary = runs.cut(ranks)
    assert p.returncode == 0, must_msg(p, f"{ranks} rank(s): run stopped by SIGTERM exits 0")
    # The whole command: ranks, binary, config, run folder (issue 9).
    want = (("mpirun -np 2 " if ranks > 1 else "") + f"{runs.ws.driftrun} train --config ")
    assert f"resume with: {want}" in p.stdout and f"--run-dir {cut} --resume auto" in p.stdout, \
        f"{ranks} rank(s): stop message says how to resume: {p.stdout[-500:]}"
    assert events is not None, f"{ranks} rank(s): the stopped run wrote {cut}/events.jsonl"
    stops = [e for e in events if e["event"] == "stop"]
    assert len(stops) == 1 and stops[0]["step"] == 62, \
        f"{ranks} rank(s): stopped at the next step boundary: {stops}"
    assert not has_summary, f"{ranks} rank(s): no summary for a stopped run"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ranks", (1, 2))
def test_resume_is_exact(runs, ranks, mode):
    p, cut = runs.resumed(ranks, mode)
    assert p.returncode == 0, must_msg(p, f"{ranks} rank(s), {mode}: resumed run exits 0")
    resumed = [e for e in read_jsonl(f"{cut}/events.jsonl") if e["event"] == "resume"]
    assert len(resumed) == 1 and resumed[0]["step"] == 62, f"{ranks} rank(s): resumed from step 62: {resumed}"
    assert summary(cut)["data"]["mode"] == mode, f"{mode}: the resume kept the checkpoint's data order"
    _, full = runs.full(ranks, mode)
    a, b = checkpoint_arrays(summary(full)["checkpoint"]), checkpoint_arrays(summary(cut)["checkpoint"])
    assert exactly_equal(a, b), \
        f"{ranks} rank(s), {mode}: resumed weights and optimizer state equal the uninterrupted run's bit for bit"
    la = [m["train_loss"] for m in read_jsonl(f"{full}/metrics.jsonl")]
    lb = [m["train_loss"] for m in read_jsonl(f"{cut}/metrics.jsonl")]
    assert la == lb, f"{ranks} rank(s): per-epoch train losses identical: {la} vs {lb}"


@pytest.mark.parametrize("mode", MODES)
def test_stop_on_2_ranks_resume_on_3(runs, mode):
    elastic = runs.ws.path(f"elastic-{mode}")
    p = runs.train(elastic, 2, env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "30"}, mode=mode)
    assert p.returncode == 0, must_msg(p, "stop on 2 ranks")
    p = runs.train(elastic, 3, "--resume", "auto")
    assert p.returncode == 0, must_msg(p, "resume the 2-rank run on 3 ranks")
    _, full2 = runs.full(2, mode)
    s, ref = summary(elastic), summary(full2)
    assert s["world_size"] == 3 and s["steps"] == ref["steps"], \
        f"3-rank resume finishes all steps (world_size {s['world_size']}, steps {s['steps']} vs {ref['steps']})"
    assert abs(s["val_loss"] - ref["val_loss"]) < 0.05 * ref["val_loss"], \
        f"3-rank resume converges like the 2-rank run (val_loss {s['val_loss']:.4f} vs {ref['val_loss']:.4f})"


def test_corrupt_newest_checkpoint_skipped(runs):
    """Corrupt newest checkpoint: skipped with a warning, the previous one is used,
    and the result is still exact."""
    corrupt = runs.ws.path("corrupt")
    p = runs.train(corrupt, None, env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "24"})
    assert p.returncode == 0, must_msg(p, "stop at step 25")
    newest = sorted(glob.glob(f"{corrupt}/checkpoints/ckpt-*.h5"))[-1]
    with open(newest, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\xff\x00\xff")
    p = runs.train(corrupt, None, "--resume", "auto")
    assert p.returncode == 0, must_msg(p, "resume past a corrupt checkpoint exits 0")
    assert "warning: skipping" in p.stderr and "sha256" in p.stderr, \
        f"corrupt checkpoint named in a warning: {p.stderr[-500:]}"
    resumed = [e for e in read_jsonl(f"{corrupt}/events.jsonl") if e["event"] == "resume"]
    assert resumed and resumed[-1]["step"] == 20, f"resumed from the previous valid checkpoint (step 20): {resumed}"
    _, full1 = runs.full(1)
    assert exactly_equal(final_weights(corrupt), final_weights(full1)), \
        "result after skipping the corrupt checkpoint is still exact"


@pytest.mark.parametrize("how", ("SIGTERM to rank 0", "SIGUSR1 to mpirun", "SIGTERM to mpirun"))
def test_real_signal_stops_every_rank(runs, how):
    """Real signals from outside: SIGTERM to rank 0, SIGUSR1 to mpirun (forwarded),
    SIGTERM to mpirun (it signals every rank itself, then reports failure, exit 1
    or by the signal, whatever they return: Open MPI 4's rule, in the README)."""
    ws = runs.ws
    d = ws.path("signal-" + how.split()[0])
    cmd = ["mpirun", "-np", "2", "--bind-to", "none", ws.driftrun, "train", "--config", runs.cfg, "--run-dir", d,
           "--quiet", "--set", "train.epochs=100000"]
    proc = subprocess.Popen(cmd, cwd=ws.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        start, pid = time.time(), None
        while time.time() - start < 60:
            if os.path.exists(f"{d}/events.jsonl"):
                ev = read_jsonl(f"{d}/events.jsonl")
                if any(e["event"] == "checkpoint" for e in ev):
                    pid = [e for e in ev if e["event"] == "start"][0]["pid"]
                    break
            time.sleep(0.05)
        assert pid is not None, f"{how}: run started and checkpointed"
        if how == "SIGTERM to mpirun":
            proc.send_signal(signal.SIGTERM)
        elif how.startswith("SIGTERM"):
            os.kill(pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGUSR1)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # the run never started, or ignored the signal: do not leave it behind
            proc.kill()
            proc.communicate()
    expected = (0, 1, -signal.SIGTERM) if how == "SIGTERM to mpirun" else (0,)
    assert proc.returncode in expected, f"{how}: every rank exits cleanly (exit {proc.returncode}): {err[-800:]}"
    stops = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "stop"]
    assert len(stops) == 1 and os.path.exists(stops[0]["checkpoint"]), f"{how}: stop checkpoint written: {stops}"


def stopped_on(ws, tag, first, then):
    """A run on `tag`-train.h5 (a copy of make-data folder `first`'s) stopped
    at step 41, the file then replaced by `then`'s; returns (config, run folder)."""
    train_h5 = ws.path(f"{tag}-train.h5")
    shutil.copyfile(ws.path(f"{first}/train.h5"), train_h5)
    cfg = ws.write_config(f"{tag}.toml", CONFIG.format(train=train_h5))
    d = ws.path(f"{tag}-run")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"], env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "40"})
    assert p.returncode == 0, must_msg(p, "stop at step 41")
    shutil.copyfile(ws.path(f"{then}/train.h5"), train_h5)
    return cfg, d


def test_resume_refuses_changed_training_data(runs):
    """A stopped run whose training file was replaced by a smaller one: the
    resume is refused (exit 3) naming both row counts. Before, its position
    (batch 41 of an epoch that now has about 22) made the step loop spin forever."""
    ws = runs.ws
    ws.make_data(ws.path("shrink-big"), "--rows", "2400", "--features", "8")
    ws.make_data(ws.path("shrink-small"), "--rows", "1200", "--features", "8")
    cfg, d = stopped_on(ws, "shrink", "shrink-big", "shrink-small")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--resume", "auto"], timeout=120)
    assert p.returncode == 3, must_msg(p, "resume on a training file with fewer rows exits 3")
    before = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "start"][0]["train_rows"]
    m = re.search(r"was trained on (\d+) training rows, but .*shrink-train.h5' now gives (\d+)", p.stderr)
    assert m and int(m.group(1)) == before and int(m.group(2)) < before // 2 + 100 and "init_from" in p.stderr, \
        f"the refusal names both row counts ({before} before) and the warm start: {p.stderr[-600:]}"


def test_resume_refuses_other_data_with_as_many_rows(runs):
    """A stopped run whose training file was replaced by other data with the
    same row count (make-data with another seed): the resume is refused (exit 3)
    and nothing is trained; the same data copied back resumes. Before, it
    trained the rest of the run on the new data with exit 0."""
    ws = runs.ws
    ws.make_data(ws.path("same-a"), "--rows", "2400", "--features", "8")
    ws.make_data(ws.path("same-b"), "--rows", "2400", "--features", "8", "--seed", "99")
    cfg, d = stopped_on(ws, "same", "same-a", "same-b")
    steps_before = len([e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "checkpoint"])
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--resume", "auto"], timeout=120)
    assert p.returncode == 3 and "other data" in p.stderr and "same-train.h5" in p.stderr \
        and "init_from" in p.stderr, must_msg(p, "resume on other data with as many rows exits 3")
    assert len([e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "checkpoint"]) == steps_before, \
        "the refused resume wrote a checkpoint"
    shutil.copyfile(ws.path("same-a/train.h5"), ws.path("same-train.h5"))  # a copy of the original: same values, new file
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--resume", "auto"], timeout=120)
    assert p.returncode == 0, must_msg(p, "resume on a copy of the original data")


def test_data_file_written_while_streaming_stops_the_run(runs):
    """A training file overwritten in place while a streamed run reads it (same
    size, new bytes): the run stops with exit 3 naming the file, instead of
    training on what it read."""
    ws = runs.ws
    ws.make_data(ws.path("inplace"), "--rows", "2400", "--features", "8")
    train_h5 = ws.path("inplace/train.h5")
    cfg = ws.write_config("inplace.toml", CONFIG.format(train=train_h5))
    d = ws.path("inplace-run")
    cmd = [ws.driftrun, "train", "--config", cfg, "--run-dir", d, "--quiet"] + STREAM
    env = dict(os.environ, DRIFTRUN_FAULT_SLEEP_AT_STEP="5", DRIFTRUN_FAULT_SLEEP_S="4", DRIFTRUN_FAULT_RANK="0")
    proc = subprocess.Popen(cmd, cwd=ws.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not os.path.exists(f"{d}/events.jsonl") and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # inside the 4 s sleep before step 5
    size = os.path.getsize(train_h5)
    with open(train_h5, "r+b") as f:  # zeros over the middle of the file, size unchanged
        f.seek(size // 2)
        f.write(b"\0" * 65536)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, f"exit {proc.returncode} (want 3):\n{err[-800:]}"
    assert "changed while driftrun was reading it" in err and "train.h5" in err, err[-800:]
    assert not os.path.exists(f"{d}/summary.json"), "no summary for a run that stopped on changed data"


def test_stream_over_budget_warns_and_step_ms_adds_up(runs):
    """A budget smaller than two windows (a window never holds less than a
    chunk): the run still trains, and says so in a warning (stderr and the start
    event's data.warnings). step_ms's parts are non-negative and add up to at
    most its total; `data` is the time spent getting batches."""
    ws = runs.ws
    d = ws.path("tight")
    p = ws.run(["train", "--config", runs.cfg, "--run-dir", d, "--quiet", "--set", "data.memory_mb=0.01",
                "--set", "data.stream_chunk_rows=128", "--set", "train.max_steps=20"])
    assert p.returncode == 0, must_msg(p, "training over its memory budget")
    start = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "start"][0]
    warnings = start["data"]["warnings"]
    assert len(warnings) == 1 and "more than data.memory_mb (0.01 MB)" in warnings[0], warnings
    assert "warning: a rank holds" in p.stderr, p.stderr[-500:]
    ms = summary(d)["step_ms"]
    parts = ("data", "compute", "allreduce_exposed", "optimizer", "other")
    assert set(ms) == {"total", *parts} and all(ms[k] >= 0 for k in ms), ms
    assert sum(ms[k] for k in parts) <= ms["total"] * 1.01 + 0.01 and ms["data"] > 0, ms
    full = summary(runs.full(1, "stream")[1])
    assert not [e for e in read_jsonl(f"{runs.full(1, 'stream')[1]}/events.jsonl")
                if e["event"] == "start"][0]["data"]["warnings"], "the streamed test run fits its budget"
    assert full["data"]["mode"] == "stream"


def test_pipelined_steps_stop_resume_and_end_exactly_as_unpipelined(runs):
    """The step loop that reads each step's loss while the next one runs (the
    default on CUDA; DRIFTRUN_STEP_PIPELINE=1 here on the CPU): 2 ranks, stopped
    by SIGTERM at step 61, resumed, end with the unpipelined run's weights,
    optimizer state, epoch losses and per-step losses, bit for bit."""
    log = ["--set", "train.log_every_steps=1"]
    on, off = {"DRIFTRUN_STEP_PIPELINE": "1"}, {"DRIFTRUN_STEP_PIPELINE": "0"}
    d = runs.ws.path("pipelined-cut")
    p = runs.train(d, 2, *log, env={**on, "DRIFTRUN_FAULT_SIGNAL_AT_STEP": "61"})
    assert p.returncode == 0, must_msg(p, "pipelined run stopped by SIGTERM")
    stops = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "stop"]
    assert len(stops) == 1 and stops[0]["step"] == 62, f"pipelined: stopped after step 62: {stops}"
    p = runs.train(d, 2, "--resume", "auto", *log, env=on)
    assert p.returncode == 0, must_msg(p, "pipelined resume")
    u = runs.ws.path("unpipelined-logged")
    p = runs.train(u, 2, *log, env=off)
    assert p.returncode == 0, must_msg(p, "unpipelined run")
    assert summary(d)["step_pipelined"] is True and summary(u)["step_pipelined"] is False, \
        "summary.json says which loop ran"
    assert exactly_equal(checkpoint_arrays(summary(u)["checkpoint"]), checkpoint_arrays(summary(d)["checkpoint"])), \
        "pipelined: weights and optimizer state equal the unpipelined run's"
    la = [m["train_loss"] for m in read_jsonl(f"{u}/metrics.jsonl")]
    lb = [m["train_loss"] for m in read_jsonl(f"{d}/metrics.jsonl")]
    assert la == lb, f"pipelined: epoch losses {lb} vs {la}"
    # Every step reported once, in order, with the unpipelined run's loss.
    got = [(e["step"], e["loss"]) for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "step"]
    want = [(e["step"], e["loss"]) for e in read_jsonl(f"{u}/events.jsonl") if e["event"] == "step"]
    assert [s for s, _ in got] == list(range(1, 136)), [s for s, _ in got][:70]
    assert got == want, "pipelined: per-step losses equal the unpipelined run's"


def test_a_resume_on_the_same_data_with_its_columns_reordered_is_exact(runs):
    """Columns meet the checkpoint's by name: the training file rewritten with
    the same columns in another order resumes to the uninterrupted run's
    weights. Before, the resume was refused as "other data" (a stranger found
    the reason misleading), and a warm start took the columns by position."""
    ws = runs.ws
    cfg, d = stopped_on(ws, "reordered", "data", "data")
    with h5py.File(ws.path("data/train.h5"), "r") as f:
        x, y = f["features"][()], f["labels"][()]
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["feature_names"]]
    order = [3, 7, 0, 5, 1, 6, 2, 4]
    with h5py.File(ws.path("reordered-train.h5"), "w") as f:
        f["features"] = x[:, order]
        f["labels"] = y
        f.attrs["feature_names"] = np.array([names[j] for j in order], dtype=h5py.string_dtype())
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--resume", "auto"], timeout=120)
    assert p.returncode == 0, must_msg(p, "resume on the same data, columns reordered")
    _, full = runs.full(1)
    assert exactly_equal(final_weights(full), final_weights(d)), "resumed weights equal the uninterrupted run's"
