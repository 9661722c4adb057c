"""Bad input never corrupts anything: each case exits with its DESIGN.md code,
prints one message naming the problem, and leaves no run output that
`--resume auto` would pick up."""
import glob
import os

import h5py
import numpy as np

from harness import Harness, checkpoint_arrays, read_jsonl

h = Harness("bad_input")
h.make_data(h.path("good"), "--rows", "600", "--features", "4")
with h5py.File(h.path("good/train.h5"), "r") as f:
    X, Y = f["/features"][()], f["/labels"][()]


def write_h5(name, **datasets):
    path = h.path(name)
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


def cfg_for(train, extra=""):
    name = f"c{len(glob.glob(h.path('*.toml')))}.toml"
    return h.write_config(name, f'name = "bad"\n[data]\ntrain = "{train}"\n[train]\nepochs = 1\n'
                                f'batch_size = 30\n{extra}')


X_nan = X.copy()
X_nan[:, 2] = np.nan
X_inf = X.copy()
X_inf[17, 1] = np.inf
Y_nan = Y.copy()
Y_nan[5] = np.nan
truncated = h.path("truncated.h5")
with open(h.path("good/train.h5"), "rb") as f:
    data = f.read()
with open(truncated, "wb") as f:
    f.write(data[: len(data) // 2])

cases = [
    # (what, config path, extra args, ranks, exit code, words the message must hold)
    ("missing file", cfg_for(h.path("nope.h5")), [], None, 3, ["nope.h5", "does not exist"]),
    ("wrong dataset name", cfg_for(h.path("good/train.h5")), ["--set", "data.features=/feats"], None, 3,
     ["/feats", "does not exist"]),
    ("1-D features", cfg_for(write_h5("flat.h5", features=X[:, 0], labels=Y)), [], None, 3, ["2-D"]),
    ("labels length mismatch", cfg_for(write_h5("short.h5", features=X, labels=Y[:-7])), [], None, 3,
     ["593 rows", "600"]),
    ("all-NaN column", cfg_for(write_h5("nancol.h5", features=X_nan, labels=Y)), [], 2, 3, ["f2", "all NaN"]),
    ("NaN label", cfg_for(write_h5("nanlabel.h5", features=X, labels=Y_nan)), [], None, 3, ["row 5", "NaN"]),
    ("empty dataset", cfg_for(write_h5("empty.h5", features=np.zeros((0, 4), np.float32),
                                       labels=np.zeros(0, np.float32))), [], None, 3, ["no rows"]),
    ("truncated file", cfg_for(truncated), [], None, 3, ["truncated"]),
    ("float labels for classification", cfg_for(h.path("good/train.h5"), '[model]\ntask = "classification"\n'),
     [], None, 3, ["integer", "classification"]),
    ("batch larger than the data", cfg_for(h.path("good/train.h5")), ["--set", "train.batch_size=6000"], None, 3,
     ["fewer than train.batch_size"]),
    ("unknown config key", cfg_for(h.path("good/train.h5"), "lrr = 0.1\n"), [], None, 2,
     [":7:", "train.lrr", "did you mean 'train.lr'"]),
    ("wrong config type", cfg_for(h.path("good/train.h5"), 'lr = "fast"\n'), [], None, 2, [":7:", "train.lr"]),
    ("batch not divisible by ranks", cfg_for(h.path("good/train.h5")), ["--set", "train.batch_size=32"], 3, 2,
     ["does not divide across 3 ranks"]),
    ("unknown flag", cfg_for(h.path("good/train.h5")), ["--epochs", "3"], None, 2, ["unknown flag '--epochs'"]),
    ("bad --set", cfg_for(h.path("good/train.h5")), ["--set", "train.epochs=many"], None, 2, ["--set", "integer"]),
]

for what, cfg, extra, ranks, code, words in cases:
    cwd = h.path("cwd-" + what.replace(" ", "_"))
    os.makedirs(cwd)
    p = h.run(["train", "--config", cfg, "--quiet"] + extra, ranks=ranks, cwd=cwd)
    h.check(p.returncode == code, f"{what}: exit {code}", f"(got {p.returncode}) {p.stderr[-400:]}")
    msgs = [l for l in p.stderr.splitlines() if l.startswith("driftrun train:")]
    h.check(len(msgs) == 1 and all(w in msgs[0] for w in words), f"{what}: one message naming the problem",
            f"{msgs} {p.stderr[-600:]}")
    h.check(not glob.glob(f"{cwd}/runs/*/checkpoints/*.json") and not glob.glob(f"{cwd}/runs/*/summary.json"),
            f"{what}: no run output left for --resume auto")

# +-Inf features are not an error: the transform treats them as missing and the
# run's start event reports it.
d = h.path("inf-run")
p = h.run(["train", "--config", cfg_for(write_h5("inf.h5", features=X_inf, labels=Y)), "--run-dir", d, "--quiet"],
          ranks=2)
if h.must(p, "Inf feature: trains, treating it as missing"):
    notes = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "start"][0]["preprocess_notes"]
    h.check(any("f1" in n and "Inf" in n for n in notes), "Inf feature: reported in preprocess_notes", str(notes))

# Missing --config.
p = h.run(["train"])
h.check(p.returncode == 2 and "--config FILE is required" in p.stderr, "missing --config: exit 2 with a hint")

# NaN loss: exit 4 naming the step; every checkpoint that exists holds finite weights.
cfg = cfg_for(h.path("good/train.h5"), 'optimizer = "sgd"\nlr = 1e6\n[checkpoint]\nevery_steps = 1\nkeep = 100\n')
d = h.path("nan-run")
p = h.run(["train", "--config", cfg, "--run-dir", d, "--quiet"], ranks=2)
h.check(p.returncode == 4, "diverging run: exit 4", f"(got {p.returncode}) {p.stderr[-400:]}")
h.check("at step" in p.stderr and ("NaN" in p.stderr or "Inf" in p.stderr), "diverging run: message names the step",
        p.stderr[-400:])
finite = all(np.all(np.isfinite(v)) for m in glob.glob(f"{d}/checkpoints/*.json")
             for k, v in checkpoint_arrays(m).items() if k.startswith("model/"))
h.check(finite, "diverging run: no checkpoint of a bad state")
h.check(not os.path.exists(f"{d}/summary.json"), "diverging run: no summary")

h.finish()
