"""Shared helpers for driftrun's integration tests.

Each test script runs the real `driftrun` binary (under `mpirun` where it says so)
in a fresh temporary folder, checks results with h5py/numpy/PyTorch, prints one
line per check and ends with "N passed, N failed"; the exit code is 1 on any
failure.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np


class Harness:
    def __init__(self, name):
        ap = argparse.ArgumentParser()
        ap.add_argument("--driftrun", required=True)
        ap.add_argument("--source", required=True)
        ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
        self.args = ap.parse_args()
        self.driftrun = os.path.abspath(self.args.driftrun)
        self.source = os.path.abspath(self.args.source)
        self.tmp = tempfile.mkdtemp(prefix=f"driftrun-{name}-")
        self.passed = 0
        self.failed = 0
        self.name = name

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def run(self, args, ranks=None, env=None, cwd=None, timeout=600):
        cmd = [self.driftrun] + list(args)
        if ranks is not None:
            cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none"] + cmd
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.run(cmd, cwd=cwd or self.tmp, env=full_env, capture_output=True, text=True,
                           timeout=timeout)
        return p

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"PASS {what}")
        else:
            self.failed += 1
            print(f"FAIL {what} {detail}")
        return cond

    def must(self, p, what):
        """Checks a finished process exited 0; prints its output when not."""
        ok = self.check(p.returncode == 0, what, f"(exit {p.returncode})")
        if not ok:
            print(p.stdout[-3000:])
            print(p.stderr[-3000:])
        return ok

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        if self.failed == 0 and not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"files kept in {self.tmp}")
        sys.exit(1 if self.failed else 0)

    def make_data(self, out, *flags):
        p = self.run(["make-data", "--out", out] + list(flags))
        if p.returncode != 0:
            raise RuntimeError(p.stderr)

    def write_config(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path


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
