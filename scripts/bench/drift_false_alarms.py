#!/usr/bin/env python3
"""False-alarm rate of `driftrun drift` on undrifted data, per method.

For each seed, make-data writes a training file (the reference) and one batch
of each size drawn from the same distribution (no drift). Every batch is
compared with the raw training data (exact statistics) and with its profile
(histogram statistics) under every [drift] method, with default thresholds;
the rate is the share of features flagged. Prints a table (markdown).

Usage: scripts/bench/drift_false_alarms.py [--driftrun build/driftrun] [--seeds 20]
       [--sizes 500,1000,2000,10000] [--features 16] [--ref-rows 20000] [--methods auto,ks,...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

METHODS = ["auto", "psi", "ks", "wasserstein", "jensenshannon"]


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stderr}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driftrun", default="build/driftrun")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sizes", default="500,1000,2000,10000")
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--ref-rows", type=int, default=20000)
    ap.add_argument("--methods", default=",".join(METHODS))
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    methods = a.methods.split(",")
    flagged = {}  # (stats, method, size) -> [flagged, total]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.seeds):
            for size in sizes:
                d = os.path.join(tmp, f"s{seed}-{size}")
                run([a.driftrun, "make-data", "--out", d, "--rows", str(a.ref_rows), "--features",
                     str(a.features), "--batches", "1", "--batch-rows", str(size), "--seed", str(1000 + seed)])
                train, batch = os.path.join(d, "train.h5"), os.path.join(d, "batch-001.h5")
                prof = os.path.join(d, "train.profile.h5")
                run([a.driftrun, "profile", "--in", train, "--out", prof])
                for stats, ref in (("exact", train), ("profile", prof)):
                    for m in methods:
                        out = json.loads(run([a.driftrun, "drift", "--reference", ref, "--current", batch, "--json",
                                              "--set", f"drift.method={m}"]))
                        k = (stats, m, size)
                        c = flagged.setdefault(k, [0, 0])
                        c[0] += sum(f["drifted"] for f in out["features"])
                        c[1] += len(out["features"])
            print(f"seed {seed + 1}/{a.seeds} done", file=sys.stderr)
    print(f"False-alarm rate: share of features flagged on undrifted batches ({a.seeds} seeds x "
          f"{a.features} features, reference {a.ref_rows} rows; thresholds at their defaults)\n")
    print("| reference | method | " + " | ".join(f"{s} rows" for s in sizes) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in sizes) + " |")
    for stats in ("exact", "profile"):
        for m in methods:
            cells = []
            for s in sizes:
                f, t = flagged[(stats, m, s)]
                cells.append(f"{100 * f / t:.2f}% ({f}/{t})")
            print(f"| {stats} | {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
