"""Exact resume: a run stopped by SIGTERM mid-epoch and resumed ends with exactly
the weights of an uninterrupted run (CPU, same seed, dropout on); resuming on
another number of ranks works and converges; a corrupt newest checkpoint is
skipped with a warning; real signals (SIGTERM to a rank, SIGUSR1 to mpirun) stop
every rank cleanly with a resumable checkpoint."""
import glob
import os
import signal
import subprocess
import time

import numpy as np

from harness import Harness, checkpoint_arrays, final_weights, read_jsonl, summary

h = Harness("resume")
h.make_data(h.path("data"), "--rows", "2400", "--features", "8")
cfg = h.write_config("resume.toml", f"""
name = "resume"
[data]
train = "{h.path('data/train.h5')}"
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
""")
# 2160 train rows / 48 = 45 steps per epoch, 135 in all; stop at 61 = mid epoch 2.

def train(run_dir, ranks, *extra, env=None):
    return h.run(["train", "--config", cfg, "--run-dir", run_dir, "--quiet"] + list(extra), ranks=ranks, env=env)

def exactly_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

for ranks in (1, 2):
    full = h.path(f"full-{ranks}")
    h.must(train(full, ranks if ranks > 1 else None), f"{ranks} rank(s): uninterrupted run")
    cut = h.path(f"cut-{ranks}")
    p = train(cut, ranks if ranks > 1 else None, env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "61"})
    h.must(p, f"{ranks} rank(s): run stopped by SIGTERM exits 0")
    h.check("resume with: driftrun train" in p.stdout, f"{ranks} rank(s): stop message says how to resume",
            p.stdout[-500:])
    events = read_jsonl(f"{cut}/events.jsonl")
    stops = [e for e in events if e["event"] == "stop"]
    h.check(len(stops) == 1 and stops[0]["step"] == 62, f"{ranks} rank(s): stopped at the next step boundary",
            str(stops))
    h.check(not os.path.exists(f"{cut}/summary.json"), f"{ranks} rank(s): no summary for a stopped run")
    p = train(cut, ranks if ranks > 1 else None, "--resume", "auto")
    h.must(p, f"{ranks} rank(s): resumed run exits 0")
    resumed = [e for e in read_jsonl(f"{cut}/events.jsonl") if e["event"] == "resume"]
    h.check(len(resumed) == 1 and resumed[0]["step"] == 62, f"{ranks} rank(s): resumed from step 62")
    a, b = checkpoint_arrays(summary(full)["checkpoint"]), checkpoint_arrays(summary(cut)["checkpoint"])
    h.check(exactly_equal(a, b), f"{ranks} rank(s): resumed weights and optimizer state equal the uninterrupted run's bit for bit")
    la = [m["train_loss"] for m in read_jsonl(f"{full}/metrics.jsonl")]
    lb = [m["train_loss"] for m in read_jsonl(f"{cut}/metrics.jsonl")]
    h.check(la == lb, f"{ranks} rank(s): per-epoch train losses identical", f"{la} vs {lb}")

# Stop on 2 ranks, resume on 3.
elastic = h.path("elastic")
h.must(train(elastic, 2, env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "30"}), "stop on 2 ranks")
p = train(elastic, 3, "--resume", "auto")
if h.must(p, "resume the 2-rank run on 3 ranks"):
    s, ref = summary(elastic), summary(h.path("full-2"))
    h.check(s["world_size"] == 3 and s["steps"] == ref["steps"], "3-rank resume finishes all steps")
    h.check(abs(s["val_loss"] - ref["val_loss"]) < 0.05 * ref["val_loss"],
            f"3-rank resume converges like the 2-rank run (val_loss {s['val_loss']:.4f} vs {ref['val_loss']:.4f})")

# Corrupt newest checkpoint: skipped with a warning, the previous one is used,
# and the result is still exact.
corrupt = h.path("corrupt")
h.must(train(corrupt, None, env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "24"}), "stop at step 25")
newest = sorted(glob.glob(f"{corrupt}/checkpoints/ckpt-*.h5"))[-1]
with open(newest, "r+b") as f:
    f.seek(1000)
    f.write(b"\x00\xff\x00\xff")
p = train(corrupt, None, "--resume", "auto")
h.must(p, "resume past a corrupt checkpoint exits 0")
h.check("warning: skipping" in p.stderr and "sha256" in p.stderr, "corrupt checkpoint named in a warning",
        p.stderr[-500:])
resumed = [e for e in read_jsonl(f"{corrupt}/events.jsonl") if e["event"] == "resume"]
h.check(resumed and resumed[-1]["step"] == 20, "resumed from the previous valid checkpoint (step 20)")
h.check(exactly_equal(final_weights(corrupt), final_weights(h.path("full-1"))),
        "result after skipping the corrupt checkpoint is still exact")

# Real signals from outside: SIGTERM to rank 0, SIGUSR1 to mpirun (forwarded).
long_cfg = ["--set", "train.epochs=100000"]
for how in ("SIGTERM to rank 0", "SIGUSR1 to mpirun"):
    d = h.path("signal-" + how.split()[0])
    cmd = ["mpirun", "-np", "2", "--bind-to", "none", h.driftrun, "train", "--config", cfg, "--run-dir", d,
           "--quiet"] + long_cfg
    proc = subprocess.Popen(cmd, cwd=h.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start, pid = time.time(), None
    while time.time() - start < 60:
        if os.path.exists(f"{d}/events.jsonl"):
            ev = read_jsonl(f"{d}/events.jsonl")
            if any(e["event"] == "checkpoint" for e in ev):
                pid = [e for e in ev if e["event"] == "start"][0]["pid"]
                break
        time.sleep(0.05)
    if not h.check(pid is not None, f"{how}: run started and checkpointed"):
        proc.kill()
        continue
    if how.startswith("SIGTERM"):
        os.kill(pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=120)
    h.check(proc.returncode == 0, f"{how}: every rank exits cleanly (exit {proc.returncode})", err[-800:])
    stops = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "stop"]
    h.check(len(stops) == 1 and os.path.exists(stops[0]["checkpoint"]), f"{how}: stop checkpoint written")

h.finish()
