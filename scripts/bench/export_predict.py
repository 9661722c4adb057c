#!/usr/bin/env python3
"""Benchmark: ONNX export time and file size per model kind, and `driftrun
predict` rows/s on the CPU next to onnxruntime on the exported model (same rows,
same 8192-row batches, same machine, one run).

Models: MLP 32-256-256-1 on 200k x 32 tabular rows; the digits CNN (16, 32
channels) on 1797 x 50 images; the text model (2^18 buckets x 64) on 20k tickets.
predict's time is its own "seconds" (preprocessing + forward, file I/O excluded;
for text it includes hashing the strings); onnxruntime's is session.run over the
same inputs (text: the hashed ids, so hashing is not in its time).
Usage: .venv/bin/python scripts/bench/export_predict.py [--keep]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import onnxruntime as ort

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
exe = os.path.join(root, "build", "driftrun")
work = tempfile.mkdtemp(prefix="driftrun-export-bench-")
py = sys.executable


def run(*args):
    p = subprocess.run([exe] + list(args), cwd=work, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def train(name, body):
    with open(os.path.join(work, name + ".toml"), "w") as f:
        f.write(f'name = "{name}"\n' + body + "\n[export]\nonnx = false\n")
    run("train", "--config", name + ".toml", "--run-dir", name, "--quiet", "--noprogress")
    e = json.loads(run("export", "--run", name, "--json"))
    return e


def ort_rows_per_s(onnx, x, batch=8192, repeat=3):
    s = ort.InferenceSession(os.path.join(work, onnx), providers=["CPUExecutionProvider"])
    s.run(None, {"input": x[:batch]})
    best = 1e9
    for _ in range(repeat):
        t = time.perf_counter()
        for b in range(0, len(x), batch):
            s.run(None, {"input": x[b:b + batch]})
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def predict_rows_per_s(name, inp, repeat=3, *extra):
    best = 0
    for _ in range(repeat):
        r = json.loads(run("predict", "--run", name, "--in", inp, "--out", name + "-y.h5", "--json", *extra))
        best = max(best, r["rows_per_s"])
    return best


rows = []
run("make-data", "--out", "tab", "--rows", "200000", "--features", "32")
e = train("mlp", '[data]\ntrain = "tab/train.h5"\n[model]\nhidden = [256, 256]\n[train]\nmax_steps = 50\nbatch_size = 1024\n')
with h5py.File(os.path.join(work, "tab/train.h5")) as f:
    x = f["features"][()]
rows.append(("mlp 32-256-256-1", e, predict_rows_per_s("mlp", "tab/train.h5"), ort_rows_per_s(e["onnx"], x), len(x)))

subprocess.run([py, f"{root}/scripts/data/digits_to_h5.py", "--out", f"{work}/digits"], check=True, capture_output=True)
e = train("cnn", '[data]\ntrain = "digits/train.h5"\n[model]\nkind = "cnn"\ntask = "classification"\nhidden = [64]\n'
          '[train]\nepochs = 2\nbatch_size = 32\n')
with h5py.File(f"{work}/digits/train.h5") as f:
    imgs = np.concatenate([f["images"][()]] * 50)
with h5py.File(f"{work}/digits/many.h5", "w") as f:
    f["images"] = imgs
rows.append(("cnn digits 1x8x8 (16, 32 ch)", e, predict_rows_per_s("cnn", "digits/many.h5"),
             ort_rows_per_s(e["onnx"], imgs), len(imgs)))

subprocess.run([py, f"{root}/scripts/data/make_tickets.py", "--out", f"{work}/tickets", "--rows", "20000"], check=True,
               capture_output=True)
e = train("text", '[data]\ntrain = "tickets/train.h5"\n[model]\nkind = "text"\ntask = "classification"\nhidden = []\n'
          '[train]\nepochs = 1\nbatch_size = 256\n')
r = predict_rows_per_s("text", "tickets/train.h5", 3, "--save-ids")
with h5py.File(f"{work}/text-y.h5") as f:
    ids = f["input"][()]
rows.append(("text 2^18 x 64 bag, 5 classes", e, r, ort_rows_per_s(e["onnx"], ids), len(ids)))

print(f"\nONNX export and CPU inference ({os.cpu_count()} cores), work folder {work}")
print(f"{'model':32} {'export s':>9} {'onnx MB':>8} {'rows':>8} {'predict rows/s':>15} {'ORT rows/s':>12} {'ratio':>6}")
for name, e, pr, orr, n in rows:
    print(f"{name:32} {e['seconds']:9.3f} {e['bytes'] / 1e6:8.2f} {n:8d} {pr:15.0f} {orr:12.0f} {pr / orr:6.2f}")
if "--keep" not in sys.argv:
    subprocess.run(["rm", "-rf", work])
