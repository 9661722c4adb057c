#!/usr/bin/env python3
"""Benchmark: training data larger than data.memory_mb (issue 15).

For training files of 1x, 4x and 16x a budget of MEMORY_MB (make-data writes
them here and they are deleted after), `driftrun train` runs one epoch on one
rank twice: with the budget (streamed when the data is larger) and with a
budget large enough to hold everything (the in-memory baseline), in the same
run. Prints peak RSS (from wait4) and samples/s of each, and the ratios.

    .venv/bin/python scripts/bench/stream_bench.py [--memory-mb 64] [--factors 1,4,16]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIFTRUN = os.path.join(ROOT, "build", "driftrun")
FEATURES = 32
# What driftrun counts for one row (trainers/stream_setup.cpp RowBytes): raw
# float32 features and label, and the preprocessed features.
ROW_BYTES = FEATURES * 4 + 4 + FEATURES * 4

CONFIG = """
name = "stream-bench"
[data]
train = "{train}"
val_fraction = 0.0
memory_mb = {memory_mb}
[model]
hidden = [256, 256]
[train]
epochs = 1
batch_size = 1024
threads = 1
[checkpoint]
every_steps = 0
[export]
onnx = false
"""


def run(work, name, train, memory_mb):
    cfg = os.path.join(work, name + ".toml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(train=train, memory_mb=memory_mb))
    run_dir = os.path.join(work, "run-" + name)
    t0 = time.time()
    p = subprocess.Popen([DRIFTRUN, "train", "--config", cfg, "--run-dir", run_dir, "--quiet", "--noprogress"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.time() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{name}: driftrun train failed: {p.stderr.read().decode()[-2000:]}")
    with open(os.path.join(run_dir, "summary.json")) as f:
        s = json.load(f)
    shutil.rmtree(run_dir)
    return {"rss_mb": usage.ru_maxrss / 1024, "sps": s["samples_per_s"], "mode": s["data"]["mode"],
            "window_rows": s["data"]["window_rows"], "wall": wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memory-mb", type=float, default=64)
    ap.add_argument("--factors", default="1,4,16")
    ap.add_argument("--work", default=None, help="scratch folder (default: a new one under /tmp)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="driftrun-stream-bench.")
    os.makedirs(work, exist_ok=True)
    rows_per_mb = 1024 * 1024 / ROW_BYTES
    print(f"data.memory_mb = {a.memory_mb:g}; {FEATURES} features ({ROW_BYTES} bytes a row as driftrun counts it); "
          "1 rank, 1 epoch, batch 1024, MLP 32-256-256-1 (the training benchmark's model)")
    print(f"{'data':>6} {'rows':>10} {'mode':>7} {'window':>8} {'peak RSS MB':>12} {'samples/s':>10} "
          f"{'in-memory RSS MB':>17} {'in-memory samples/s':>20} {'speed ratio':>12}")
    try:
        for factor in [float(x) for x in a.factors.split(",")]:
            rows = int(factor * a.memory_mb * rows_per_mb * 0.999)
            data = os.path.join(work, f"data-{factor:g}")
            subprocess.run([DRIFTRUN, "make-data", "--out", data, "--rows", str(rows), "--features", str(FEATURES),
                            "--missing", "0.01", "--batches", "0"], check=True, stdout=subprocess.DEVNULL)
            train = os.path.join(data, "train.h5")
            budget = run(work, f"budget-{factor:g}", train, a.memory_mb)
            held = run(work, f"held-{factor:g}", train, 1e6)
            print(f"{factor:>5g}x {rows:>10} {budget['mode']:>7} {budget['window_rows']:>8} "
                  f"{budget['rss_mb']:>12.0f} {budget['sps']:>10.0f} {held['rss_mb']:>17.0f} "
                  f"{held['sps']:>20.0f} {budget['sps'] / held['sps']:>11.2f}x", flush=True)
            shutil.rmtree(data)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
