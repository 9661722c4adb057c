"""Bad input never corrupts anything: every case of the catalogue
(bad_input_cases.py, tests/BAD_INPUT.md) exits with its DESIGN.md code, prints
one message holding its words, crashes nothing, leaves no temporary file and
(where the case says) nothing half-written."""
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess

import h5py
import numpy as np
import pytest

from bad_input_cases import ALL, markdown
from harness import must_msg, read_jsonl

CRASH_TEXT = ("core dumped", "terminate called", "Aborted", "Segmentation fault", "AddressSanitizer",
              "runtime error:", "Traceback")

TRAINED = """name = "bad"
[data]
train = "{train}"
[model]
hidden = [64, 64]
[train]
epochs = 2
batch_size = 30
[checkpoint]
every_steps = 5
keep = 100
[registry]
path = "{registry}"
register = true
"""


class Inputs:
    """The good data set and the bad files, configs, runs and registries made
    from it, in one module-wide temporary folder; `cwd` is the current case's."""

    def __init__(self, ws):
        self.ws = ws
        ws.make_data(ws.path("good"), "--rows", "600", "--features", "4")
        with h5py.File(ws.path("good/train.h5"), "r") as f:
            self.X, self.Y = f["/features"][()], f["/labels"][()]
        self.good = ws.path("good/train.h5")
        self.good_dir = ws.path("good")
        self.cwd = ws.tmp
        self.trained_cfg = ws.write_config("trained.toml", TRAINED.format(train=self.good,
                                                                          registry=ws.path("reg-base")))
        self.last_copy, self.copied_manifests, self._n = None, [], 0

    def path(self, *parts):
        return self.ws.path(*parts)

    def fresh(self, stem):
        self._n += 1
        return self.path(f"{stem}-{self._n}")

    def run(self, args, env=None, preexec=None):
        env = dict(os.environ, **(env or {}))
        return subprocess.run([self.ws.driftrun] + args, cwd=self.cwd, env=env, capture_output=True, text=True,
                              timeout=300, preexec_fn=preexec)

    def train(self, cfg, *extra, ranks=None, env=None, preexec=None):
        if ranks:
            full = dict(os.environ, **(env or {}))
            cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none", self.ws.driftrun, "train", "--config", cfg,
                   "--quiet"] + list(extra)
            return subprocess.run(cmd, cwd=self.cwd, env=full, capture_output=True, text=True, timeout=300)
        return self.run(["train", "--config", cfg, "--quiet"] + list(extra), env=env, preexec=preexec)

    # ---- files
    def write_h5(self, name, **datasets):
        path = self.path(name)
        with h5py.File(path, "w") as f:
            for k, v in datasets.items():
                f.create_dataset(k, data=v)
        return path

    def named_h5(self, name, names):
        path = self.write_h5(name, features=self.X, labels=self.Y)
        with h5py.File(path, "a") as f:
            f["features"].attrs["feature_names"] = names
        return path

    def raw(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def raw_config(self, data):
        return self.raw(os.path.basename(self.fresh("raw")) + ".toml", data)

    def cfg_for(self, train, extra="", data_extra=""):
        name = os.path.basename(self.fresh("c")) + ".toml"
        return self.ws.write_config(name, f'name = "bad"\n[data]\ntrain = "{train}"\n{data_extra}[train]\n'
                                          f'epochs = 1\nbatch_size = 30\n{extra}')

    def truncated(self):
        with open(self.good, "rb") as f:
            data = f.read()
        return self.raw("truncated.h5", data[: len(data) // 2])

    def lzf(self):
        path = self.path("lzf.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("features", data=self.X, compression="lzf")
            f.create_dataset("labels", data=self.Y)
        return path

    def half_written(self):
        """/features chunked in 8 chunks, only the first 4 written (a writer that died)."""
        path = self.path("half.h5")
        n = len(self.X)
        with h5py.File(path, "w") as f:
            d = f.create_dataset("features", shape=self.X.shape, dtype="f4", chunks=(n // 8, self.X.shape[1]))
            d[: n // 2] = self.X[: n // 2]
            f.create_dataset("labels", data=self.Y)
        return path

    def huge(self):
        """/features declared [2^40, 4] (chunked, nothing written): a few KB on disk."""
        path = self.path("huge.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("features", shape=(2 ** 40, 4), dtype="f4", chunks=(1024, 4))
            f.create_dataset("labels", shape=(2 ** 40,), dtype="f4", chunks=(1024,))
        return path

    def big(self):
        if not os.path.exists(self.path("big/train.h5")):
            self.ws.make_data(self.path("big"), "--rows", "20000", "--features", "4")
        return self.path("big/train.h5")

    def x_with(self, row, col, value):
        x = self.X.copy()
        x[row, col] = value
        return x

    def y_with(self, row, value):
        y = self.Y.copy()
        y[row] = value
        return y

    # ---- runs and registries
    def _once(self, key, fn):
        return self.ws.once(key, fn)

    def stopped(self):
        """A run stopped (SIGTERM) at step 12 with checkpoints 5, 10, 12: resumable."""
        def make():
            d = self.path("base-run")
            p = self.run(["train", "--config", self.trained_cfg, "--run-dir", d, "--quiet"],
                         env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "12"})
            assert p.returncode == 0 and not os.path.exists(f"{d}/summary.json"), must_msg(p, "stopped base run")
            return d
        return self._once("stopped", make)

    def copy_run(self, finished=False):
        d = self.fresh("run-copy")
        shutil.copytree(self.trained() if finished else self.stopped(), d)
        self.last_copy = d
        self.copied_manifests = sorted(glob.glob(f"{d}/checkpoints/*.json"))
        return d

    def trained(self):
        """A finished run (the stopped one resumed), registered as bad:1 in reg-base."""
        def make():
            d = self.path("finished-run")
            shutil.copytree(self.stopped(), d)
            p = self.run(["train", "--config", self.trained_cfg, "--run-dir", d, "--resume", "auto", "--quiet"])
            assert p.returncode == 0, must_msg(p, "finished run")
            return d
        return self._once("trained", make)

    def registry(self, damage=None):
        self.trained()
        reg = self.fresh("registry")
        shutil.copytree(self.path("reg-base"), reg)
        if damage == "rm-onnx":
            for f in glob.glob(f"{reg}/artifacts/**/*.onnx", recursive=True):  # content-addressed
                os.remove(f)
        if damage == "ro":
            if subprocess.run(["chattr", "-R", "+i", reg], capture_output=True).returncode != 0:
                pytest.skip("chattr +i is not supported here: no way to make a folder read-only for root")
            self.immutable.append(reg)
        return reg

    immutable = []

    def fake_registry(self):
        reg = self.fresh("fake-registry")
        os.makedirs(reg)
        self.raw(os.path.relpath(f"{reg}/registry.db", self.ws.tmp), b"this is not a database\n" * 10)
        return reg

    def with_db_locked(self, fn):
        reg = self.registry()
        con = sqlite3.connect(f"{reg}/registry.db", isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        try:
            return fn(reg)
        finally:
            con.execute("ROLLBACK")
            con.close()

    @staticmethod
    def sha(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def rehash(self, h5, js):
        with open(h5, "rb") as f:
            data = f.read()
        m = json.load(open(js))
        m["sha256"], m["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
        with open(js, "w") as f:
            json.dump(m, f)

    def predict_damaged(self, damage):
        d = self.fresh("pred-run")
        shutil.copytree(self.trained(), d)
        h5 = sorted(glob.glob(f"{d}/checkpoints/*.h5"))[-1]
        damage(self, h5, None)
        return self.run(["predict", "--run", d, "--in", self.good, "--out", self.path("damaged-pred.h5")])


@pytest.fixture(scope="module")
def inputs(module_workspace):
    i = Inputs(module_workspace)
    yield i
    for reg in Inputs.immutable:
        subprocess.run(["chattr", "-R", "-i", reg], capture_output=True)


def check_no_crash(c, p):
    out = p.stdout + p.stderr
    assert p.returncode >= 0, f"{c.kind}: killed by signal {-p.returncode}\n{out[-1500:]}"
    bad = [t for t in CRASH_TEXT if t in out]
    assert not bad, f"{c.kind}: crash text {bad}\n{out[-1500:]}"


@pytest.mark.parametrize("c", ALL, ids=[f"{c.area}: {c.kind}" for c in ALL])
def test_bad_input_case(inputs, c):
    inputs.cwd = inputs.fresh("cwd")
    os.makedirs(inputs.cwd)
    p = c.run(inputs)
    if c.crash:
        assert p.returncode != 0, must_msg(p, f"{c.kind}: the fault hook killed it")
    else:
        check_no_crash(c, p)
        assert p.returncode == c.code, must_msg(p, f"{c.kind}: exit {c.code}")
        msgs = [ln for ln in p.stderr.splitlines() if ln.startswith("driftrun ") and ": " in ln
                and "warning:" not in ln]
        assert len(msgs) == 1, f"{c.kind}: one message, got {msgs}\n{p.stderr[-1500:]}"
        message = p.stderr[p.stderr.index(msgs[0]):]  # the message and its indented lines
        missing = [w for w in c.words if w not in message]
        assert not missing, f"{c.kind}: the message holds {missing}: {message[:1500]}"
    if c.after:
        c.after(inputs, p)
    if not c.crash:
        left = [f for f in glob.glob(f"{inputs.ws.tmp}/**/*.tmp.*", recursive=True)]
        assert not left, f"{c.kind}: temporary files left behind: {left}"


def test_catalogue_table_is_up_to_date(module_workspace):
    path = os.path.join(module_workspace.source, "tests", "BAD_INPUT.md")
    with open(path) as f:
        assert f.read() == markdown(), \
            "tests/BAD_INPUT.md is stale: python tests/integration/bad_input_cases.py > tests/BAD_INPUT.md"
    assert len(ALL) >= 40


def test_inf_feature_treated_as_missing(inputs):
    """+-Inf features are not an error: the transform treats them as missing and
    the run's start event reports it."""
    d = inputs.path("inf-run")
    inputs.cwd = inputs.ws.tmp
    cfg = inputs.cfg_for(inputs.write_h5("inf.h5", features=inputs.x_with(17, 1, np.inf), labels=inputs.Y))
    p = inputs.train(cfg, "--run-dir", d, ranks=2)
    assert p.returncode == 0, must_msg(p, "Inf feature: trains, treating it as missing")
    notes = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "start"][0]["preprocess_notes"]
    assert any("f1" in n and "Inf" in n for n in notes), f"Inf feature: reported in preprocess_notes: {notes}"


def test_diverging_run(inputs):
    """NaN loss: exit 4 naming the step; every checkpoint that exists holds finite weights."""
    from harness import checkpoint_arrays
    inputs.cwd = inputs.ws.tmp
    cfg = inputs.cfg_for(inputs.good, 'optimizer = "sgd"\nlr = 1e6\n[checkpoint]\nevery_steps = 1\nkeep = 100\n')
    d = inputs.path("nan-run")
    p = inputs.train(cfg, "--run-dir", d, ranks=2)
    assert p.returncode == 4, f"diverging run: exit 4: (got {p.returncode}) {p.stderr[-400:]}"
    assert "at step" in p.stderr and ("NaN" in p.stderr or "Inf" in p.stderr), \
        f"diverging run: message names the step: {p.stderr[-400:]}"
    bad = [(m, k) for m in glob.glob(f"{d}/checkpoints/*.json")
           for k, v in checkpoint_arrays(m).items() if k.startswith("model/") and not np.all(np.isfinite(v))]
    assert not bad, f"diverging run: no checkpoint of a bad state: {bad}"
    assert not os.path.exists(f"{d}/summary.json"), "diverging run: no summary"
