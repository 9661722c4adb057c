#!/usr/bin/env python3
"""Reference tokenizer for driftrun text models: strings to the int64 ids that a
text model's ONNX input (`input`, int64 [N, max_ids]) expects, exactly as
`driftrun predict` computes them (kernels/text_math.h). numpy only; reading the
settings from a model.onnx needs onnxruntime (or onnx).

The scheme ("driftrun-ngrams-1"): a word is a maximal run of ASCII letters,
digits or bytes >= 0x80 of the UTF-8 text, lower-cased (ASCII only). For each
word in order: its id; then (word_ngrams >= 2) the id of the bigram with the
previous word; then (char_ngrams > 0) the ids of every char_ngrams-long window
over b"<" + word + b">". An id is splitmix64(FNV-1a-64(tag, bytes)) % buckets
with tag b"w" (word), b"b" (previous word, b" ", word) or b"c" (window). A row
stops at max_ids ids and is padded with pad_id (= buckets), whose embedding is
zero. The model's metadata_props hold every setting: driftrun.text.scheme,
.buckets, .pad_id, .max_ids, .word_ngrams, .char_ngrams.

    python scripts/text_ids.py --onnx runs/x/model.onnx "printer jams again" "refund please"
    python scripts/text_ids.py --onnx runs/x/model.onnx --h5 tickets.h5 --out ids.npy
    from text_ids import TextHashing; ids = TextHashing.from_onnx("model.onnx").ids(["some text"])
"""
import argparse
import sys

import numpy as np

SCHEME = "driftrun-ngrams-1"
_M64 = (1 << 64) - 1
_FNV_BASIS = 14695981039346656037


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def fnv(h, data):
    for c in data:
        h = ((h ^ c) * 1099511628211) & _M64
    return h


def _words(text):
    """text: str (encoded as UTF-8; surrogateescape keeps undecodable bytes as
    they were) or bytes (taken as they are, as h5py returns them)."""
    raw = text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8", "surrogateescape")
    low = bytes(c + 32 if 65 <= c <= 90 else c for c in raw)
    words, cur = [], bytearray()
    for c in low:
        if 97 <= c <= 122 or 48 <= c <= 57 or c >= 0x80:
            cur.append(c)
        elif cur:
            words.append(bytes(cur))
            cur = bytearray()
    if cur:
        words.append(bytes(cur))
    return words


class TextHashing:
    def __init__(self, buckets, max_ids, word_ngrams=2, char_ngrams=3):
        self.buckets, self.max_ids = int(buckets), int(max_ids)
        self.word_ngrams, self.char_ngrams = int(word_ngrams), int(char_ngrams)

    @classmethod
    def from_onnx(cls, path):
        meta = _onnx_metadata(path)
        if meta.get("driftrun.text.scheme") != SCHEME:
            raise ValueError(f"{path}: not a driftrun text model with hashing scheme {SCHEME} "
                             f"(driftrun.text.scheme = {meta.get('driftrun.text.scheme')!r})")
        missing = [k for k in ("buckets", "max_ids", "word_ngrams", "char_ngrams")
                   if f"driftrun.text.{k}" not in meta]
        if missing:
            raise ValueError(f"{path}: its metadata lacks driftrun.text.{', '.join(missing)} "
                             "(exported by an older driftrun: re-export it)")
        return cls(*(int(meta[f"driftrun.text.{k}"]) for k in ("buckets", "max_ids", "word_ngrams",
                                                                 "char_ngrams")))

    def row(self, text):
        b, out, prev = self.buckets, [], None
        for w in _words(text):
            out.append(mix64(fnv(fnv(_FNV_BASIS, b"w"), w)) % b)
            if self.word_ngrams >= 2 and prev is not None:
                out.append(mix64(fnv(fnv(fnv(_FNV_BASIS, b"b"), prev), b" " + w)) % b)
            if self.char_ngrams > 0:
                padded = b"<" + w + b">"
                for i in range(len(padded) - self.char_ngrams + 1):
                    out.append(mix64(fnv(fnv(_FNV_BASIS, b"c"), padded[i:i + self.char_ngrams])) % b)
            prev = w
            if len(out) >= self.max_ids:
                break
        out = out[:self.max_ids]
        return out + [self.buckets] * (self.max_ids - len(out))

    def ids(self, texts):
        return np.array([self.row(t) for t in texts], dtype=np.int64).reshape(len(texts), self.max_ids)


def _onnx_metadata(path):
    try:
        import onnxruntime as ort
        return dict(ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                    .get_modelmeta().custom_metadata_map)
    except ImportError:
        import onnx
        return {p.key: p.value for p in onnx.load(path).metadata_props}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", required=True, help="a driftrun text model (its metadata holds the settings)")
    ap.add_argument("--h5", help="HDF5 file with the texts (needs h5py)")
    ap.add_argument("--dataset", default="/text", help="texts in --h5 (default /text)")
    ap.add_argument("--out", help="write the ids as .npy instead of printing them")
    ap.add_argument("texts", nargs="*")
    a = ap.parse_args(argv)
    h = TextHashing.from_onnx(a.onnx)
    texts = list(a.texts)
    if a.h5:
        import h5py
        with h5py.File(a.h5, "r") as f:
            texts += [t.decode("utf-8", "surrogateescape") if isinstance(t, bytes) else t for t in f[a.dataset][()]]
    ids = h.ids(texts)
    if a.out:
        np.save(a.out, ids)
    else:
        for row in ids:
            print(" ".join(map(str, row)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
