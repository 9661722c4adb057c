"""Bad input never corrupts anything: each case exits with its DESIGN.md code,
prints one message naming the problem, and leaves no run output that
`--resume auto` would pick up."""
import glob
import os

import h5py
import numpy as np
import pytest

from harness import checkpoint_arrays, must_msg, read_jsonl


class Inputs:
    """The good data set and the bad files and configs made from it, in one
    module-wide temporary folder."""

    def __init__(self, ws):
        self.ws = ws
        ws.make_data(ws.path("good"), "--rows", "600", "--features", "4")
        with h5py.File(ws.path("good/train.h5"), "r") as f:
            self.X, self.Y = f["/features"][()], f["/labels"][()]
        self.good = ws.path("good/train.h5")

    def path(self, *parts):
        return self.ws.path(*parts)

    def write_h5(self, name, **datasets):
        path = self.ws.path(name)
        with h5py.File(path, "w") as f:
            for k, v in datasets.items():
                f.create_dataset(k, data=v)
        return path

    def cfg_for(self, train, extra=""):
        name = f"c{len(glob.glob(self.ws.path('*.toml')))}.toml"
        return self.ws.write_config(name, f'name = "bad"\n[data]\ntrain = "{train}"\n[train]\nepochs = 1\n'
                                          f'batch_size = 30\n{extra}')

    def truncated(self):
        truncated = self.ws.path("truncated.h5")
        with open(self.good, "rb") as f:
            data = f.read()
        with open(truncated, "wb") as f:
            f.write(data[: len(data) // 2])
        return truncated

    def x_with(self, row, col, value):
        x = self.X.copy()
        x[row, col] = value
        return x

    def y_with(self, row, value):
        y = self.Y.copy()
        y[row] = value
        return y


@pytest.fixture(scope="module")
def inputs(module_workspace):
    return Inputs(module_workspace)


CASES = [
    # (what, config maker, extra args, ranks, exit code, words the message must hold)
    ("missing file", lambda i: i.cfg_for(i.path("nope.h5")), [], None, 3, ["nope.h5", "does not exist"]),
    ("wrong dataset name", lambda i: i.cfg_for(i.good), ["--set", "data.features=/feats"], None, 3,
     ["/feats", "does not exist"]),
    ("1-D features", lambda i: i.cfg_for(i.write_h5("flat.h5", features=i.X[:, 0], labels=i.Y)), [], None, 3,
     ["2-D"]),
    ("labels length mismatch", lambda i: i.cfg_for(i.write_h5("short.h5", features=i.X, labels=i.Y[:-7])), [],
     None, 3, ["593 rows", "600"]),
    ("all-NaN column", lambda i: i.cfg_for(i.write_h5("nancol.h5", features=i.x_with(slice(None), 2, np.nan),
                                                      labels=i.Y)), [], 2, 3, ["f2", "all NaN"]),
    ("NaN label", lambda i: i.cfg_for(i.write_h5("nanlabel.h5", features=i.X, labels=i.y_with(5, np.nan))), [],
     None, 3, ["row 5", "NaN"]),
    ("empty dataset", lambda i: i.cfg_for(i.write_h5("empty.h5", features=np.zeros((0, 4), np.float32),
                                                     labels=np.zeros(0, np.float32))), [], None, 3, ["no rows"]),
    ("truncated file", lambda i: i.cfg_for(i.truncated()), [], None, 3, ["truncated"]),
    ("float labels for classification", lambda i: i.cfg_for(i.good, '[model]\ntask = "classification"\n'),
     [], None, 3, ["integer", "classification"]),
    ("batch larger than the data", lambda i: i.cfg_for(i.good), ["--set", "train.batch_size=6000"], None, 3,
     ["fewer than train.batch_size"]),
    ("unknown config key", lambda i: i.cfg_for(i.good, "lrr = 0.1\n"), [], None, 2,
     [":7:", "train.lrr", "did you mean 'train.lr'"]),
    ("wrong config type", lambda i: i.cfg_for(i.good, 'lr = "fast"\n'), [], None, 2, [":7:", "train.lr"]),
    ("batch not divisible by ranks", lambda i: i.cfg_for(i.good), ["--set", "train.batch_size=32"], 3, 2,
     ["does not divide across 3 ranks"]),
    ("unknown flag", lambda i: i.cfg_for(i.good), ["--epochs", "3"], None, 2, ["unknown flag '--epochs'"]),
    ("bad --set", lambda i: i.cfg_for(i.good), ["--set", "train.epochs=many"], None, 2, ["--set", "integer"]),
]


@pytest.mark.parametrize("what, make_cfg, extra, ranks, code, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_case(inputs, what, make_cfg, extra, ranks, code, words):
    cwd = inputs.path("cwd-" + what.replace(" ", "_"))
    os.makedirs(cwd)
    p = inputs.ws.run(["train", "--config", make_cfg(inputs), "--quiet"] + extra, ranks=ranks, cwd=cwd)
    assert p.returncode == code, f"{what}: exit {code}: (got {p.returncode}) {p.stderr[-400:]}"
    msgs = [line for line in p.stderr.splitlines() if line.startswith("driftrun train:")]
    assert len(msgs) == 1 and all(w in msgs[0] for w in words), \
        f"{what}: one message naming the problem {words}: {msgs} {p.stderr[-600:]}"
    left = glob.glob(f"{cwd}/runs/*/checkpoints/*.json") + glob.glob(f"{cwd}/runs/*/summary.json")
    assert not left, f"{what}: no run output left for --resume auto: {left}"


def test_inf_feature_treated_as_missing(inputs):
    """+-Inf features are not an error: the transform treats them as missing and
    the run's start event reports it."""
    d = inputs.path("inf-run")
    cfg = inputs.cfg_for(inputs.write_h5("inf.h5", features=inputs.x_with(17, 1, np.inf), labels=inputs.Y))
    p = inputs.ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"], ranks=2)
    assert p.returncode == 0, must_msg(p, "Inf feature: trains, treating it as missing")
    notes = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "start"][0]["preprocess_notes"]
    assert any("f1" in n and "Inf" in n for n in notes), f"Inf feature: reported in preprocess_notes: {notes}"


def test_missing_config_flag(workspace):
    p = workspace.run(["train"])
    assert p.returncode == 2 and "--config FILE is required" in p.stderr, \
        f"missing --config: exit 2 with a hint: (exit {p.returncode}) {p.stderr[-400:]}"


def test_diverging_run(inputs):
    """NaN loss: exit 4 naming the step; every checkpoint that exists holds finite weights."""
    cfg = inputs.cfg_for(inputs.good, 'optimizer = "sgd"\nlr = 1e6\n[checkpoint]\nevery_steps = 1\nkeep = 100\n')
    d = inputs.path("nan-run")
    p = inputs.ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"], ranks=2)
    assert p.returncode == 4, f"diverging run: exit 4: (got {p.returncode}) {p.stderr[-400:]}"
    assert "at step" in p.stderr and ("NaN" in p.stderr or "Inf" in p.stderr), \
        f"diverging run: message names the step: {p.stderr[-400:]}"
    bad = [(m, k) for m in glob.glob(f"{d}/checkpoints/*.json")
           for k, v in checkpoint_arrays(m).items() if k.startswith("model/") and not np.all(np.isfinite(v))]
    assert not bad, f"diverging run: no checkpoint of a bad state: {bad}"
    assert not os.path.exists(f"{d}/summary.json"), "diverging run: no summary"
