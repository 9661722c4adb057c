"""Drift statistics of `driftrun drift` cross-checked against scipy and numpy on
several generated distributions (exact method, within 1e-6); false-positive rate
of make-data batches without drift over 20 seeds; 0.5 sigma mean shifts in a
quarter of the features are flagged; profiles readable with h5py; bad input
exits 3; the HTML report draws every feature."""
import json
import os
import re

import h5py
import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from harness import Harness

h = Harness("drift")
rng = np.random.default_rng(7)


def write(path, cols, names):
    n = max(len(c) for c in cols)
    x = np.full((n, len(cols)), np.nan, np.float32)
    for j, c in enumerate(cols):
        x[: len(c), j] = c
    with h5py.File(path, "w") as f:
        f.create_dataset("/features", data=x)
        f.attrs["feature_names"] = names
    return path


def drift_json(ref, cur, *extra):
    p = h.run(["drift", "--reference", ref, "--current", cur, "--json"] + list(extra))
    if p.returncode != 0:
        print(p.stderr)
        return None
    return json.loads(p.stdout)


def numpy_psi(a, b):
    edges = np.quantile(a, np.arange(1, 10) / 10)
    r = np.bincount(np.searchsorted(edges, a, side="left"), minlength=10) / len(a)
    c = np.bincount(np.searchsorted(edges, b, side="left"), minlength=10) / len(b)
    r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    return float(np.sum((c - r) * np.log(c / r)))


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(b))


# Pairs: equal sizes (KS p-value exact), large (asymptotic), small unequal,
# different shapes, a shift, a scale change, heavy tails, ties.
cases = {
    "same_normal_500": (rng.normal(0, 1, 500), rng.normal(0, 1, 500)),
    "shift_2000_20000": (rng.normal(0, 1, 20000), rng.normal(0.3, 1, 2000)),
    "scale_300_700": (rng.normal(5, 2, 300), rng.normal(5, 3, 700)),
    "uniform_vs_normal": (rng.uniform(-2, 2, 3000), rng.normal(0, 1, 12000)),
    "lognormal_tails": (rng.lognormal(0, 1, 15000), rng.lognormal(0.1, 1.1, 5000)),
    "ties_rounded": (np.round(rng.normal(0, 1, 4000), 1), np.round(rng.normal(0.05, 1, 4000), 1)),
}
names = list(cases)
ref = write(h.path("ref.h5"), [c[0] for c in cases.values()], names)
cur = write(h.path("cur.h5"), [c[1] for c in cases.values()], names)
rep = drift_json(ref, cur)
if h.check(rep is not None and rep["statistics"] == "exact", "drift on raw data uses exact statistics"):
    for f in rep["features"]:
        a, b = (v.astype(np.float32).astype(np.float64) for v in cases[f["name"]])
        method = "auto" if len(a) == len(b) else "asymp"
        ks = ks_2samp(a, b, method=method)
        w = wasserstein_distance(a, b) / np.std(a)
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
        js = jensenshannon(np.histogram(a, edges)[0], np.histogram(b, edges)[0])
        psi = numpy_psi(a, b)
        n = f["name"]
        h.check(close(f["ks_statistic"], ks.statistic), f"{n}: KS statistic = scipy ({f['ks_statistic']:.6g})")
        h.check(close(f["ks_pvalue"], ks.pvalue),
                f"{n}: KS p-value = scipy ks_2samp(method={method}) ({f['ks_pvalue']:.6g} vs {ks.pvalue:.6g})")
        h.check(close(f["wasserstein"], w), f"{n}: Wasserstein / std = scipy ({f['wasserstein']:.6g} vs {w:.6g})")
        h.check(close(f["jensen_shannon"], js), f"{n}: Jensen-Shannon = scipy ({f['jensen_shannon']:.6g} vs {js:.6g})")
        h.check(close(f["psi"], psi), f"{n}: PSI = numpy ({f['psi']:.6g} vs {psi:.6g})")

# Categorical columns: chi-square and Jensen-Shannon against scipy.
from scipy.stats import chisquare  # noqa: E402

cat_ref = np.stack([rng.integers(0, 5, 1500), rng.integers(0, 4, 1500), rng.integers(0, 3, 1500)], 1)
cat_cur = np.stack([rng.integers(0, 5, 800), rng.choice(4, 800, p=[0.4, 0.3, 0.2, 0.1]),
                    rng.integers(0, 6, 800)], 1)
for name, cat in (("cref.h5", cat_ref), ("ccur.h5", cat_cur)):
    with h5py.File(h.path(name), "w") as f:
        f.create_dataset("/features", data=rng.normal(0, 1, (len(cat), 2)).astype(np.float32))
        f.create_dataset("/categorical", data=cat.astype(np.int64))
        f.attrs["feature_names"] = ["x0", "x1"]
        f.attrs["categorical_names"] = ["same", "shifted", "unseen"]
rep = drift_json(h.path("cref.h5"), h.path("ccur.h5"))
cats = {f["name"]: f for f in (rep or {"features": []})["features"] if f.get("kind") == "categorical"}
h.check(set(cats) == {"same", "shifted", "unseen"}, "categorical columns are reported")
for j, n in enumerate(("same", "shifted")):
    if n not in cats:
        continue
    k = cat_ref[:, j].max() + 1
    r_counts = np.bincount(cat_ref[:, j], minlength=k)
    c_counts = np.bincount(cat_cur[:, j], minlength=k)
    chi = chisquare(c_counts, r_counts / r_counts.sum() * c_counts.sum())
    js = jensenshannon(np.append(r_counts, 0), np.append(c_counts, 0))
    h.check(close(cats[n]["chi2_pvalue"], chi.pvalue) and close(cats[n]["chi2_statistic"], chi.statistic),
            f"{n}: chi-square = scipy ({cats[n]['chi2_statistic']:.6g}, p {cats[n]['chi2_pvalue']:.6g})")
    h.check(close(cats[n]["jensen_shannon"], js), f"{n}: categorical Jensen-Shannon = scipy")
if cats:
    h.check(not cats["same"]["drifted"] and cats["shifted"]["drifted"] and cats["unseen"]["drifted"],
            "categorical drift flags the shifted and the unseen-category columns only")
p = h.run(["profile", "--in", h.path("cref.h5"), "--out", h.path("cref.profile.h5")])
rep2 = drift_json(h.path("cref.profile.h5"), h.path("ccur.h5"))
cats2 = {f["name"]: f for f in (rep2 or {"features": []})["features"] if f.get("kind") == "categorical"}
h.check(cats2.keys() == cats.keys() and all(close(cats2[n]["chi2_pvalue"], cats[n]["chi2_pvalue"]) for n in cats),
        "category counts stored in the profile give the same chi-square results")

# Profiles: readable with h5py, quantiles near numpy's, drift from a profile.
h.make_data(h.path("d"), "--rows", "20000", "--features", "8", "--batches", "2", "--batch-rows", "2000",
            "--drift", "mean", "--drift-from", "2", "--drift-magnitude", "0.5", "--drift-share", "0.25")
p = h.run(["profile", "--in", h.path("d/train.h5"), "--out", h.path("ref.profile.h5")])
h.must(p, "profile writes a reference profile")
with h5py.File(h.path("ref.profile.h5")) as f, h5py.File(h.path("d/train.h5")) as g:
    x = g["/features"][()]
    fine = f["/fine_edges"][()]
    pct = np.nanpercentile(x, np.arange(0, 101), axis=0).T
    width = (np.nanmax(x, 0) - np.nanmin(x, 0)) / 4096
    h.check(np.all(np.abs(fine - pct) <= width[:, None] + 1e-5), "profile percentiles within one fine bin of numpy's")
    h.check(np.allclose(f["/missing"][()], np.isnan(x).sum(0)), "profile missing counts equal numpy's")
for label, reference in (("exact", h.path("d/train.h5")), ("profile", h.path("ref.profile.h5"))):
    clean = drift_json(reference, h.path("d/batch-001.h5"))
    shifted = drift_json(reference, h.path("d/batch-002.h5"))
    if clean is None or shifted is None:
        h.check(False, f"{label}: drift runs")
        continue
    flags = [f["drifted"] for f in shifted["features"]]
    h.check(flags == [True, True] + [False] * 6, f"{label}: 0.5 sigma shift flags exactly the 2 shifted features",
            str(flags))
    h.check(not any(f["drifted"] for f in clean["features"]), f"{label}: the batch without drift is not flagged")
    h.check(shifted["statistics"] == ("exact" if label == "exact" else "histogram"), f"{label}: method reported")

# False-positive rate over 20 seeds, both methods.
false_features, false_datasets, total = 0, 0, 0
for seed in range(1, 21):
    d = h.path(f"fp{seed}")
    h.make_data(d, "--rows", "20000", "--features", "8", "--batches", "1", "--batch-rows", "2000",
                "--seed", str(seed))
    for reference in (f"{d}/train.h5",):
        r = drift_json(reference, f"{d}/batch-001.h5")
        false_features += sum(f["drifted"] for f in r["features"])
        false_datasets += r["dataset_drift"]
        total += len(r["features"])
print(f"false-positive rate over 20 seeds: {false_features}/{total} features, {false_datasets}/20 datasets")
h.check(false_datasets == 0 and false_features / total < 0.05,
        f"no-drift batches: feature false-positive rate {false_features / total:.3f} < 0.05, no dataset drift")

# HTML report.
p = h.run(["drift", "--reference", h.path("ref.profile.h5"), "--current", h.path("d/batch-002.h5"), "--html",
           h.path("r.html")])
html = open(h.path("r.html")).read() if os.path.exists(h.path("r.html")) else ""
heads = re.findall(r"<h2[^>]*>([^<(]+)", html)
h.check(p.returncode == 0 and html.count("<svg") == 8, "HTML report draws 8 features as inline SVG")
h.check(heads[:2] and set(x.strip() for x in heads[:2]) == {"f0", "f1"}, "HTML report sorts by drift score",
        str(heads))
h.check("http" not in html, "HTML report needs no network")

# driftrun preprocess: the fitted transform applied to a file, checked with numpy.
cfg = h.write_config("pp.toml", f"""
[data]
train = "{h.path('d/train.h5')}"
[preprocess]
clip_sigma = 3.0
columns = ["f2:impute=median", "f3:scale=minmax"]
""")
p = h.run(["preprocess", "--config", cfg, "--in", h.path("d/batch-001.h5"), "--out", h.path("pp.h5"), "--json"])
if h.must(p, "preprocess writes the transformed file"):
    rep = json.loads(p.stdout)
    with h5py.File(h.path("d/train.h5")) as g, h5py.File(h.path("d/batch-001.h5")) as b, h5py.File(h.path("pp.h5")) as o:
        t, x, y = g["/features"][()].astype(np.float64), b["/features"][()].astype(np.float64), o["/features"][()]
        mean, std = np.nanmean(t, 0), np.nanstd(t, 0)
        fill = mean.copy()
        fill[2] = np.nanmedian(t[:, 2])
        shift, scale = mean.copy(), 1 / std
        shift[3], scale[3] = np.nanmin(t[:, 3]), 1 / (np.nanmax(t[:, 3]) - np.nanmin(t[:, 3]))
        lo = np.where(np.arange(8) == 3, -np.inf, -3.0)
        want = np.clip((np.where(np.isnan(x), fill, x) - shift) * scale, lo, -lo)
        width = (np.nanmax(t[:, 2]) - np.nanmin(t[:, 2])) / 4096 * scale[2]
        err = np.abs(y - want)
        h.check(np.all(np.delete(err, 2, axis=1) < 1e-4) and np.all(err[:, 2] < 1e-4 + width),
                f"preprocess output equals numpy's impute/scale/clip (max err {err.max():.2e})")
        h.check([c["imputed"] for c in rep["columns"]] == list(np.isnan(x).sum(0)), "preprocess reports imputed counts")

# Bad input: exit 3 naming the problem.
other = write(h.path("other.h5"), [rng.normal(0, 1, 100)] * 8, [f"g{i}" for i in range(8)])
fewer = write(h.path("fewer.h5"), [rng.normal(0, 1, 100)] * 7, [f"f{i}" for i in range(7)])
empty = write(h.path("empty.h5"), [np.zeros(0)] * 8, [f"f{i}" for i in range(8)])
with open(h.path("ref.profile.h5"), "rb") as f:
    blob = f.read()
with open(h.path("corrupt.profile.h5"), "wb") as f:
    f.write(blob[: len(blob) // 3])
bad = [
    ("mismatched feature names", h.path("ref.profile.h5"), other, "g0"),
    ("mismatched feature names (data)", h.path("d/train.h5"), other, "feature names differ"),
    ("fewer features", h.path("ref.profile.h5"), fewer, "7 features"),
    ("empty batch", h.path("ref.profile.h5"), empty, "empty"),
    ("corrupt profile", h.path("corrupt.profile.h5"), h.path("d/batch-001.h5"), "corrupt.profile.h5"),
    ("missing current", h.path("ref.profile.h5"), h.path("nope.h5"), "nope.h5"),
]
for what, r_, c_, word in bad:
    p = h.run(["drift", "--reference", r_, "--current", c_, "--json"])
    h.check(p.returncode == 3 and word in p.stderr and p.stdout == "", f"{what}: exit 3 naming it",
            f"(exit {p.returncode}) {p.stderr[-300:]}")

h.finish()
