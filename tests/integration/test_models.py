#!/usr/bin/env python3
"""Model kinds (MLP, CNN, text), ONNX export and `driftrun predict`.

For each kind: train from config alone, predict on raw inputs (rows with missing
values included), and compare onnxruntime on the exported model.onnx with
driftrun predict: max abs diff <= 1e-5 at batch sizes 1, 7 and 1024 with graph
optimisations off and on. The digits CNN must reach 95% test accuracy; the text
model must beat the majority class by a wide margin. Text hashing is checked
against an independent Python implementation of kernels/text_math.h.
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import Harness, final_weights, max_rel_diff  # noqa: E402
import onnx_check  # noqa: E402

h = Harness("models")
py = sys.executable


def train(cfg_name, text):
    cfg = h.write_config(cfg_name, text)
    run = h.path("runs", cfg_name.replace(".toml", ""))
    p = h.run(["train", "--config", cfg, "--run-dir", run, "--quiet", "--noprogress"])
    h.must(p, f"train {cfg_name}")
    h.check(os.path.exists(os.path.join(run, "model.onnx")), f"{cfg_name}: model.onnx written at the end of the run")
    return run


def predict(run, inp, out, *extra):
    p = h.run(["predict", "--run", run, "--in", inp, "--out", out] + list(extra))
    h.must(p, f"predict {os.path.basename(run)}")
    with h5py.File(out) as f:
        return {k: f[k][()] for k in f.keys()}


def parity(run, x, got, what):
    diff, labels = onnx_check.max_diff(os.path.join(run, "model.onnx"), x, got["prediction"], got.get("label"))
    h.check(diff <= 1e-5, f"{what}: onnxruntime vs driftrun predict max abs diff {diff:.2e} <= 1e-5")
    if "label" in got:
        h.check(labels, f"{what}: onnxruntime labels equal driftrun's")


# ---- MLP, regression and classification, with missing values ------------------
for task in ("regression", "classification"):
    data = h.path(f"tab-{task}")
    h.make_data(data, "--rows", "3000", "--features", "6", "--task", task, "--missing", "0.05")
    run = train(f"mlp-{task}.toml", f"""
name = "mlp-{task}"
[data]
train = "{data}/train.h5"
[model]
task = "{task}"
hidden = [32, 16]
activation = "gelu"
[preprocess]
clip_sigma = 3.0
columns = ["f1:impute=median"]
[train]
epochs = 3
batch_size = 64
""")
    test = os.path.join(data, "batch_000.h5")
    if not os.path.exists(test):
        test = os.path.join(data, "train.h5")
    with h5py.File(test) as f:
        x = f["features"][()].astype(np.float32)
    x[0, :] = np.nan  # a row with every value missing
    x[1, 2] = np.inf
    xin = h.path(f"x-{task}.h5")
    with h5py.File(xin, "w") as f:
        f["features"] = x
    got = predict(run, xin, h.path(f"y-{task}.h5"))
    h.check(got["prediction"].shape[0] == len(x) and np.all(np.isfinite(got["prediction"])),
            f"mlp {task}: one finite prediction per row, missing values included")
    parity(run, x, got, f"mlp {task}")
    meta = onnx_check.metadata(os.path.join(run, "model.onnx"))
    import json
    summary = json.load(open(os.path.join(run, "summary.json")))
    h.check(meta.get("driftrun.config_hash") == summary["config_hash"] and meta.get("driftrun.kind") == "mlp",
            f"mlp {task}: ONNX metadata_props carry the run's config hash and kind", str(meta))

# ---- export command: --run and --checkpoint, bad input ---------------------------
p = h.run(["export", "--run", run, "--out", h.path("again.onnx"), "--json"])
h.must(p, "driftrun export --run")
p = h.run(["export", "--checkpoint", h.path("nope.json"), "--out", h.path("x.onnx")])
h.check(p.returncode == 3 and not os.path.exists(h.path("x.onnx")), "export of a missing checkpoint: exit 3, no file",
        p.stderr)

# ---- CNN on scikit-learn's digits -------------------------------------------------
digits = h.path("digits")
subprocess_ok = os.system(f"{py} {h.source}/scripts/data/digits_to_h5.py --out {digits} > /dev/null") == 0
h.check(subprocess_ok, "digits converted to HDF5")
run = train("cnn.toml", f"""
name = "digits"
[data]
train = "{digits}/train.h5"
val_fraction = 0.1
[model]
kind = "cnn"
task = "classification"
channels = [16, 32]
hidden = [64]
[train]
epochs = 25
batch_size = 32
lr = 2e-3
""")
with h5py.File(f"{digits}/test.h5") as f:
    imgs, labels = f["images"][()], f["labels"][()]
got = predict(run, f"{digits}/test.h5", h.path("digits-pred.h5"))
acc = float(np.mean(got["label"] == labels))
h.check(acc >= 0.95, f"digits CNN test accuracy {acc:.4f} >= 0.95")
imgs = imgs.copy()
imgs[:5, 0, 3, 3] = np.nan  # missing pixels are imputed the same way in both
xin = h.path("digits-nan.h5")
with h5py.File(xin, "w") as f:
    f["images"] = imgs
got = predict(run, xin, h.path("digits-nan-pred.h5"))
parity(run, imgs, got, "cnn")

# ---- text model on generated support tickets -------------------------------------
tickets = h.path("tickets")
h.check(os.system(f"{py} {h.source}/scripts/data/make_tickets.py --out {tickets} > /dev/null") == 0,
        "tickets generated")
run = train("text.toml", f"""
name = "tickets"
[data]
train = "{tickets}/train.h5"
[model]
kind = "text"
task = "classification"
hidden = []
embedding_dim = 32
[preprocess]
text_buckets = 65536
max_ngrams = 128
[train]
epochs = 6
batch_size = 64
lr = 1e-2
""")
got = predict(run, f"{tickets}/test.h5", h.path("tickets-pred.h5"), "--save-ids")
with h5py.File(f"{tickets}/test.h5") as f:
    texts = [t.decode() for t in f["text"][()]]
    labels = f["labels"][()]
acc = float(np.mean(got["label"] == labels))
majority = float(np.max(np.bincount(labels)) / len(labels))
h.check(acc >= majority + 0.3, f"text model accuracy {acc:.4f} beats the majority class {majority:.4f} by >= 0.3")
parity(run, got["input"], got, "text")


# Independent re-implementation of kernels/text_math.h.
def mix64(z):
    m = (1 << 64) - 1
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def fnv(h0, bs):
    for c in bs:
        h0 = ((h0 ^ c) * 1099511628211) & ((1 << 64) - 1)
    return h0


def hash_text(s, buckets=65536, char_n=3, max_ids=128):
    basis = 14695981039346656037
    low = bytes(c + 32 if 65 <= c <= 90 else c for c in s.encode())
    words, cur = [], b""
    for c in low:
        if (97 <= c <= 122) or (48 <= c <= 57) or c >= 0x80:
            cur += bytes([c])
        elif cur:
            words.append(cur)
            cur = b""
    if cur:
        words.append(cur)
    out, prev = [], None
    for w in words:
        out.append(mix64(fnv(fnv(basis, b"w"), w)) % buckets)
        if prev is not None:
            out.append(mix64(fnv(fnv(fnv(basis, b"b"), prev), b" " + w)) % buckets)
        padded = b"<" + w + b">"
        for i in range(len(padded) - char_n + 1):
            out.append(mix64(fnv(fnv(basis, b"c"), padded[i:i + char_n])) % buckets)
        prev = w
    out = out[:max_ids]
    return out + [buckets] * (max_ids - len(out))


want = np.array([hash_text(t) for t in texts[:200]], dtype=np.int64)
h.check(np.array_equal(want, got["input"][:200]), "text hashing equals an independent Python implementation")

# ---- the new kinds train data-parallel: 2 ranks end with the 1-rank weights -----
for kind, cfg_text in (("cnn", f"""
name = "dp-cnn"
[data]
train = "{digits}/train.h5"
[model]
kind = "cnn"
task = "classification"
channels = [8]
hidden = [16]
[train]
max_steps = 30
batch_size = 32
[export]
onnx = false
"""), ("text", f"""
name = "dp-text"
[data]
train = "{tickets}/train.h5"
[model]
kind = "text"
task = "classification"
hidden = []
embedding_dim = 16
[preprocess]
text_buckets = 4096
[train]
max_steps = 30
batch_size = 32
[export]
onnx = false
""")):
    cfg = h.write_config(f"dp-{kind}.toml", cfg_text)
    runs = {}
    for n in (1, 2):
        runs[n] = h.path("runs", f"dp-{kind}-{n}")
        p = h.run(["train", "--config", cfg, "--run-dir", runs[n], "--quiet", "--noprogress"], ranks=n)
        h.must(p, f"{kind}: train on {n} rank(s)")
    diff = max_rel_diff(final_weights(runs[1]), final_weights(runs[2]))
    h.check(diff < 1e-4, f"{kind}: 2 ranks end with the 1-rank weights (rel diff {diff:.2e})")

# ---- bad input to predict ---------------------------------------------------------
p = h.run(["predict", "--run", run, "--in", f"{digits}/test.h5", "--out", h.path("bad.h5")])
h.check(p.returncode == 3 and not os.path.exists(h.path("bad.h5")),
        "predict on a file without the model's dataset: exit 3, nothing written", p.stderr)
h.finish()
