"""The command line: help texts, usage errors (exit 2), `config`, the config
documentation in configs/README.md, and `make-data` checked with numpy."""
import json
import os
import re

import h5py
import numpy as np

from harness import Harness

h = Harness("cli")

p = h.run(["--help"])
h.check(p.returncode == 0 and all(c in p.stdout for c in ("train", "make-data", "config", "exit codes")),
        "driftrun --help lists the commands and exit codes")
p = h.run([])
h.check(p.returncode == 2 and "usage" in p.stdout, "driftrun without a command: usage, exit 2")
p = h.run(["trian"])
h.check(p.returncode == 2 and "unknown command 'trian'" in p.stderr, "unknown command: exit 2")
p = h.run(["train", "--help"])
h.check(p.returncode == 0 and all(f in p.stdout for f in ("--config", "--set", "--run-dir", "--resume")),
        "train --help explains every flag")
p = h.run(["make-data", "--help"])
h.check(p.returncode == 0 and all(f in p.stdout for f in ("--drift", "--drift-from", "--missing", "--task")),
        "make-data --help explains every flag")
p = h.run(["make-data", "--rows", "ten"])
h.check(p.returncode == 2 and "--rows" in p.stderr, "a flag value of the wrong type: exit 2 naming the flag")
p = h.run(["make-data", "--drift", "sideways"])
h.check(p.returncode == 2 and "--drift" in p.stderr, "a bad choice: exit 2 naming the flag")

# config: resolved output round-trips; docs cover every key and match configs/README.md.
p = h.run(["config", "--set", "train.lr=0.5"])
h.check(p.returncode == 0 and "lr = 0.5" in p.stdout, "config prints the resolved config with overrides")
resolved = h.write_config("resolved.toml", p.stdout)
p2 = h.run(["config", "--config", resolved])
h.check(p2.returncode == 0 and p2.stdout == p.stdout, "the resolved config is a valid config that resolves to itself")
docs = h.run(["config", "--docs"]).stdout
keys = re.findall(r"^\| `([a-z_.]+)` \|", docs, re.M)
with open(os.path.join(h.source, "configs", "README.md")) as f:
    readme = f.read()
missing = [k for k in keys if f"`{k}`" not in readme]
h.check(len(keys) > 30 and not missing, f"configs/README.md documents all {len(keys)} keys", str(missing))
for line in docs.splitlines()[2:]:
    if line not in readme:
        h.check(False, "configs/README.md table is up to date (regenerate with driftrun config --docs)", line)
        break
else:
    h.check(True, "configs/README.md table is up to date")
for cfg in sorted(os.listdir(os.path.join(h.source, "configs"))):
    if cfg.endswith(".toml"):
        p = h.run(["config", "--config", os.path.join(h.source, "configs", cfg)])
        h.check(p.returncode == 0, f"configs/{cfg} is a valid config", p.stderr)

# make-data: ground truth, missing values, drift, checked with numpy.
p = h.run(["make-data", "--out", h.path("d"), "--rows", "20000", "--features", "8", "--missing", "0.1",
           "--batches", "3", "--batch-rows", "20000", "--drift", "mean", "--drift-from", "2",
           "--drift-magnitude", "1.0", "--drift-share", "0.25", "--json"])
h.check(p.returncode == 0, "make-data with drift exits 0", p.stderr)
info = json.loads(p.stdout)
h.check(len(info["files"]) == 4, "make-data wrote train.h5 and 3 batches")
with h5py.File(h.path("d/train.h5")) as f:
    x = f["/features"][()]
    names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["feature_names"]]
h.check(abs(np.isnan(x).mean() - 0.1) < 0.01, f"missing rate ~0.1 ({np.isnan(x).mean():.3f})")
h.check(names == [f"f{i}" for i in range(8)], "feature_names attribute")
mu, sd = np.nanmean(x, 0), np.nanstd(x, 0)
for b, drifted in ((1, False), (2, True), (3, True)):
    with h5py.File(h.path(f"d/batch-{b:03d}.h5")) as f:
        xb = f["/features"][()]
        attr = f.attrs["drift"]
    shift = (np.nanmean(xb, 0) - mu) / sd
    want = np.array([1.0, 1.0] + [0.0] * 6) if drifted else np.zeros(8)
    h.check(np.all(np.abs(shift - want) < 0.05), f"batch {b}: mean shift per feature {np.round(shift, 2)}")
    h.check((attr == "mean") == drifted, f"batch {b}: drift attribute '{attr}'")
p = h.run(["make-data", "--out", h.path("c"), "--rows", "3000", "--task", "classification", "--classes", "5"])
with h5py.File(h.path("c/train.h5")) as f:
    y = f["/labels"][()]
h.check(y.dtype == np.int64 and set(np.unique(y)) == set(range(5)), "classification labels are int64 in [0, 5)")

h.finish()
