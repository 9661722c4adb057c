#!/usr/bin/env python3
"""A generated support-ticket routing data set for the text model.

Each ticket is a short message routed to one of several teams. A ticket mixes
words of its team's vocabulary with words shared by every team, typos
(dropped or swapped letters) and random filler, so that no single word decides
the class. Writes OUT/train.h5 and OUT/test.h5 with /text (variable-length UTF-8
strings) and /labels int64, plus the attribute class_names.
Usage: scripts/data/make_tickets.py --out data/tickets [--rows 6000]
"""
import argparse
import os

import h5py
import numpy as np

TEAMS = {
    "billing": "invoice charge charged refund payment card billing subscription price receipt overcharged "
               "bill plan paid twice credit",
    "login": "password login sign locked account reset username authentication 2fa code email verify "
             "session expired access",
    "shipping": "delivery package shipped tracking courier arrive late address parcel order warehouse "
                "lost damaged box dispatch",
    "bug": "crash error bug broken freezes app screen button page loading exception update version "
           "stuck blank",
    "sales": "quote pricing enterprise demo upgrade license seats discount contract trial purchase "
             "team volume sales",
}
SHARED = ("please help hi hello thanks urgent issue problem since yesterday today my the a is not "
          "working can you still again need").split()


def typo(w, rng):
    if len(w) > 3 and rng.random() < 0.15:
        i = rng.integers(1, len(w) - 1)
        return w[:i] + w[i + 1:] if rng.random() < 0.5 else w[:i - 1] + w[i] + w[i - 1] + w[i + 1:]
    return w


def ticket(team, rng, names):
    own = TEAMS[team].split()
    other = TEAMS[names[rng.integers(len(names))]].split()
    words = []
    for _ in range(rng.integers(6, 16)):
        r = rng.random()
        w = own[rng.integers(len(own))] if r < 0.35 else other[rng.integers(len(other))] if r < 0.5 else \
            SHARED[rng.integers(len(SHARED))]
        words.append(typo(w, rng).upper() if rng.random() < 0.05 else typo(w, rng))
    return " ".join(words) + rng.choice(["", ".", "!", "?", " !!"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    names = sorted(TEAMS)
    # Unbalanced like real queues: the majority class holds 40%.
    p = np.array([0.4, 0.2, 0.15, 0.15, 0.1])
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for split, n in (("train", a.rows), ("test", a.rows // 4)):
        y = rng.choice(len(names), size=n, p=p)
        text = [ticket(names[c], rng, names) for c in y]
        with h5py.File(os.path.join(a.out, split + ".h5"), "w") as f:
            f.create_dataset("text", data=text, dtype=h5py.string_dtype("utf-8"))
            f["labels"] = y.astype(np.int64)
            f.attrs["class_names"] = names
    print(f"wrote {a.out}/train.h5 ({a.rows} tickets) and {a.out}/test.h5 ({a.rows // 4})")


if __name__ == "__main__":
    main()
