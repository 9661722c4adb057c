#!/usr/bin/env python3
"""scikit-learn's bundled 8x8 digits (1797 images, no download) as driftrun HDF5.

Writes OUT/train.h5 and OUT/test.h5 with /images float32 [N, 1, 8, 8] (pixel
values 0..16), /labels int64 [N]; a stratified 80/20 split with a fixed seed.
Usage: scripts/data/digits_to_h5.py --out data/digits
"""
import argparse
import os

import h5py
import numpy as np
from sklearn.datasets import load_digits


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    d = load_digits()
    x = d.images.astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(a.seed)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, size=len(idx) // 5, replace=False)] = True
    os.makedirs(a.out, exist_ok=True)
    for name, mask in (("train", ~test), ("test", test)):
        order = rng.permutation(np.flatnonzero(mask))
        with h5py.File(os.path.join(a.out, name + ".h5"), "w") as f:
            f["images"] = x[order]
            f["labels"] = y[order]
    print(f"wrote {a.out}/train.h5 ({(~test).sum()} images) and {a.out}/test.h5 ({test.sum()} images)")


if __name__ == "__main__":
    main()
