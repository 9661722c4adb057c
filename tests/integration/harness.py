"""Shared helpers for driftrun's integration tests (pytest).

Each test module runs the real `driftrun` binary (under `mpirun` where it says
so) in a temporary folder and checks results with h5py/numpy/PyTorch. The
fixtures that hand out a `Workspace` live in conftest.py; this module holds the
plain helpers, importable from the tests (conftest.py puts this folder on
sys.path).
"""
import json
import os
import socket
import subprocess

import h5py
import numpy as np


class Workspace:
    """A temporary folder plus the driftrun binary and source tree: what the
    old script Harness offered, without its argument parsing and exit code."""

    def __init__(self, driftrun, source, tmp):
        self.driftrun = driftrun
        self.source = source
        self.tmp = str(tmp)
        self._cache = {}

    def __repr__(self):
        return f"Workspace({self.tmp})"

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def run(self, args, ranks=None, env=None, cwd=None, timeout=600):
        cmd = [self.driftrun] + list(args)
        if ranks is not None:
            cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none"] + cmd
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run(cmd, cwd=cwd or self.tmp, env=full_env, capture_output=True, text=True,
                              timeout=timeout)

    def make_data(self, out, *flags):
        p = self.run(["make-data", "--out", out] + list(flags))
        if p.returncode != 0:
            raise RuntimeError(f"driftrun make-data --out {out} {' '.join(flags)} failed "
                               f"(exit {p.returncode}):\n{p.stderr}")

    def write_config(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def once(self, key, fn):
        """fn() the first time `key` is asked for, its result (or exception) after:
        an expensive run shared by several tests happens once per workspace."""
        if key not in self._cache:
            try:
                self._cache[key] = (True, fn())
            except Exception as e:  # noqa: BLE001 - re-raised to every test that needs it
                self._cache[key] = (False, e)
        ok, value = self._cache[key]
        if not ok:
            raise value
        return value


def must_msg(p, what):
    """The assertion message for a process that should have exited 0: what it
    was, its exit code and the tail of its stdout and stderr."""
    return (f"{what} (exit {p.returncode})\n--- stdout (tail) ---\n{p.stdout[-3000:]}"
            f"\n--- stderr (tail) ---\n{p.stderr[-3000:]}")


def summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def checkpoint_arrays(manifest):
    """The model weights (and optimizer state) of a checkpoint, by name."""
    data = manifest[:-5] + ".h5"
    out = {}
    with h5py.File(data, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def final_weights(run_dir):
    return {k: v for k, v in checkpoint_arrays(summary(run_dir)["checkpoint"]).items()
            if k.startswith("model/")}


def max_rel_diff(a, b):
    num = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    den = max(float(np.max(np.abs(a[k]))) for k in a)
    return num / den


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_toml(name="demo", epochs=3, every=50, lr="3e-3", registry="registry", registry_keys="", more=""):
    """A small regression model config on data/train.h5 (the service, pool
    and Slurm tests' model): `registry_keys` are more lines of [registry],
    `more` is further TOML tables."""
    return f"""name = "{name}"
[data]
train = "data/train.h5"
val_fraction = 0.1
[model]
task = "regression"
hidden = [16]
[train]
epochs = {epochs}
batch_size = 128
optimizer = "adamw"
lr = {lr}
seed = 11
[checkpoint]
every_steps = {every}
[registry]
path = "{registry}"
{registry_keys}
{more}"""
