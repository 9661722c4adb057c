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
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp, wasserstein_distance

from harness import must_msg


def write(path, cols, names):
    n = max(len(c) for c in cols)
    x = np.full((n, len(cols)), np.nan, np.float32)
    for j, c in enumerate(cols):
        x[: len(c), j] = c
    with h5py.File(path, "w") as f:
        f.create_dataset("/features", data=x)
        f.attrs["feature_names"] = names
    return path


def drift_json(ws, ref, cur, *extra):
    p = ws.run(["drift", "--reference", ref, "--current", cur, "--json"] + list(extra))
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
CASE_NAMES = ["same_normal_500", "shift_2000_20000", "scale_300_700", "uniform_vs_normal", "lognormal_tails",
              "ties_rounded"]


class Data:
    """Every random input, drawn from one generator (seed 7) in the order the
    checks were written in, so that the values do not depend on which tests run."""

    def __init__(self, ws):
        self.ws = ws
        rng = np.random.default_rng(7)
        self.cases = {
            "same_normal_500": (rng.normal(0, 1, 500), rng.normal(0, 1, 500)),
            "shift_2000_20000": (rng.normal(0, 1, 20000), rng.normal(0.3, 1, 2000)),
            "scale_300_700": (rng.normal(5, 2, 300), rng.normal(5, 3, 700)),
            "uniform_vs_normal": (rng.uniform(-2, 2, 3000), rng.normal(0, 1, 12000)),
            "lognormal_tails": (rng.lognormal(0, 1, 15000), rng.lognormal(0.1, 1.1, 5000)),
            "ties_rounded": (np.round(rng.normal(0, 1, 4000), 1), np.round(rng.normal(0.05, 1, 4000), 1)),
        }
        assert list(self.cases) == CASE_NAMES
        self.ref = write(ws.path("ref.h5"), [c[0] for c in self.cases.values()], CASE_NAMES)
        self.cur = write(ws.path("cur.h5"), [c[1] for c in self.cases.values()], CASE_NAMES)
        # Categorical columns.
        self.cat_ref = np.stack([rng.integers(0, 5, 1500), rng.integers(0, 4, 1500), rng.integers(0, 3, 1500)], 1)
        self.cat_cur = np.stack([rng.integers(0, 5, 800), rng.choice(4, 800, p=[0.4, 0.3, 0.2, 0.1]),
                                 rng.integers(0, 6, 800)], 1)
        for name, cat in (("cref.h5", self.cat_ref), ("ccur.h5", self.cat_cur)):
            with h5py.File(ws.path(name), "w") as f:
                f.create_dataset("/features", data=rng.normal(0, 1, (len(cat), 2)).astype(np.float32))
                f.create_dataset("/categorical", data=cat.astype(np.int64))
                f.attrs["feature_names"] = ["x0", "x1"]
                f.attrs["categorical_names"] = ["same", "shifted", "unseen"]
        # Bad input.
        self.other = write(ws.path("other.h5"), [rng.normal(0, 1, 100)] * 8, [f"g{i}" for i in range(8)])
        self.fewer = write(ws.path("fewer.h5"), [rng.normal(0, 1, 100)] * 7, [f"f{i}" for i in range(7)])
        self.empty = write(ws.path("empty.h5"), [np.zeros(0)] * 8, [f"f{i}" for i in range(8)])


@pytest.fixture(scope="module")
def data(module_workspace):
    return Data(module_workspace)


# ---- continuous statistics against scipy and numpy ---------------------------------

@pytest.fixture(scope="module")
def raw_report(data):
    return data.ws.once("raw_report", lambda: drift_json(data.ws, data.ref, data.cur))


def test_raw_data_uses_exact_statistics(raw_report):
    assert raw_report is not None and raw_report["statistics"] == "exact", \
        f"drift on raw data uses exact statistics: {raw_report and raw_report['statistics']}"


@pytest.mark.parametrize("n", CASE_NAMES)
def test_statistics_equal_scipy(data, raw_report, n):
    assert raw_report is not None and raw_report["statistics"] == "exact", \
        "drift on raw data uses exact statistics (see test_raw_data_uses_exact_statistics)"
    reported = {f["name"]: f for f in raw_report["features"]}
    assert n in reported, f"{n}: in the drift report ({list(reported)})"
    f = reported[n]
    a, b = (v.astype(np.float32).astype(np.float64) for v in data.cases[n])
    method = "auto" if len(a) == len(b) else "asymp"
    ks = ks_2samp(a, b, method=method)
    w = wasserstein_distance(a, b) / np.std(a)
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    js = jensenshannon(np.histogram(a, edges)[0], np.histogram(b, edges)[0])
    psi = numpy_psi(a, b)
    assert close(f["ks_statistic"], ks.statistic), \
        f"{n}: KS statistic = scipy ({f['ks_statistic']:.6g} vs {ks.statistic:.6g})"
    assert close(f["ks_pvalue"], ks.pvalue), \
        f"{n}: KS p-value = scipy ks_2samp(method={method}) ({f['ks_pvalue']:.6g} vs {ks.pvalue:.6g})"
    assert close(f["wasserstein"], w), f"{n}: Wasserstein / std = scipy ({f['wasserstein']:.6g} vs {w:.6g})"
    assert close(f["jensen_shannon"], js), f"{n}: Jensen-Shannon = scipy ({f['jensen_shannon']:.6g} vs {js:.6g})"
    assert close(f["psi"], psi), f"{n}: PSI = numpy ({f['psi']:.6g} vs {psi:.6g})"


# ---- categorical columns: chi-square and Jensen-Shannon against scipy --------------

@pytest.fixture(scope="module")
def categorical(data):
    """Categorical features of the drift report, by name (empty when drift failed)."""
    def run():
        rep = drift_json(data.ws, data.ws.path("cref.h5"), data.ws.path("ccur.h5"))
        return {f["name"]: f for f in (rep or {"features": []})["features"] if f.get("kind") == "categorical"}
    return data.ws.once("categorical", run)


def test_categorical_columns_reported(categorical):
    assert set(categorical) == {"same", "shifted", "unseen"}, \
        f"categorical columns are reported: {sorted(categorical)}"


@pytest.mark.parametrize("j, n", [(0, "same"), (1, "shifted")])
def test_categorical_equals_scipy(data, categorical, j, n):
    assert n in categorical, f"{n}: categorical column reported (see test_categorical_columns_reported)"
    cats = categorical
    k = data.cat_ref[:, j].max() + 1
    r_counts = np.bincount(data.cat_ref[:, j], minlength=k)
    c_counts = np.bincount(data.cat_cur[:, j], minlength=k)
    chi = chisquare(c_counts, r_counts / r_counts.sum() * c_counts.sum())
    js = jensenshannon(np.append(r_counts, 0), np.append(c_counts, 0))
    assert close(cats[n]["chi2_pvalue"], chi.pvalue) and close(cats[n]["chi2_statistic"], chi.statistic), \
        f"{n}: chi-square = scipy ({cats[n]['chi2_statistic']:.6g}, p {cats[n]['chi2_pvalue']:.6g} vs " \
        f"{chi.statistic:.6g}, p {chi.pvalue:.6g})"
    assert close(cats[n]["jensen_shannon"], js), \
        f"{n}: categorical Jensen-Shannon = scipy ({cats[n]['jensen_shannon']:.6g} vs {js:.6g})"


def test_categorical_drift_flags(categorical):
    cats = categorical
    assert cats, "categorical columns reported (see test_categorical_columns_reported)"
    assert not cats["same"]["drifted"] and cats["shifted"]["drifted"] and cats["unseen"]["drifted"], \
        "categorical drift flags the shifted and the unseen-category columns only: " \
        f"{ {n: c['drifted'] for n, c in cats.items()} }"


def test_profile_keeps_category_counts(data, categorical):
    ws, cats = data.ws, categorical
    p = ws.run(["profile", "--in", ws.path("cref.h5"), "--out", ws.path("cref.profile.h5")])
    rep2 = drift_json(ws, ws.path("cref.profile.h5"), ws.path("ccur.h5"))
    cats2 = {f["name"]: f for f in (rep2 or {"features": []})["features"] if f.get("kind") == "categorical"}
    assert cats2.keys() == cats.keys() and all(close(cats2[n]["chi2_pvalue"], cats[n]["chi2_pvalue"])
                                               for n in cats), \
        "category counts stored in the profile give the same chi-square results: " \
        f"{ {n: c.get('chi2_pvalue') for n, c in cats2.items()} } vs " \
        f"{ {n: c.get('chi2_pvalue') for n, c in cats.items()} }; profile exit {p.returncode} {p.stderr[-300:]}"


# ---- profiles: readable with h5py, quantiles near numpy's, drift from a profile ----

@pytest.fixture(scope="module")
def reference(data):
    """make-data with a 0.5 sigma mean shift in batch 2, and its training file's
    profile: (profile process, workspace)."""
    ws = data.ws

    def run():
        ws.make_data(ws.path("d"), "--rows", "20000", "--features", "8", "--batches", "2", "--batch-rows", "2000",
                     "--drift", "mean", "--drift-from", "2", "--drift-magnitude", "0.5", "--drift-share", "0.25")
        return ws.run(["profile", "--in", ws.path("d/train.h5"), "--out", ws.path("ref.profile.h5")])
    return ws.once("reference", run), ws


def test_profile_readable_and_near_numpy(reference):
    p, ws = reference
    assert p.returncode == 0, must_msg(p, "profile writes a reference profile")
    with h5py.File(ws.path("ref.profile.h5")) as f, h5py.File(ws.path("d/train.h5")) as g:
        x = g["/features"][()]
        fine = f["/fine_edges"][()]
        pct = np.nanpercentile(x, np.arange(0, 101), axis=0).T
        width = (np.nanmax(x, 0) - np.nanmin(x, 0)) / 4096
        err = np.abs(fine - pct) - (width[:, None] + 1e-5)
        assert np.all(np.abs(fine - pct) <= width[:, None] + 1e-5), \
            f"profile percentiles within one fine bin of numpy's (worst excess {err.max():.3g})"
        missing = f["/missing"][()]
        assert np.allclose(missing, np.isnan(x).sum(0)), \
            f"profile missing counts equal numpy's ({missing} vs {np.isnan(x).sum(0)})"


@pytest.mark.parametrize("label", ("exact", "profile"))
def test_mean_shift_flagged(reference, label):
    _, ws = reference
    ref = ws.path("d/train.h5") if label == "exact" else ws.path("ref.profile.h5")
    clean = drift_json(ws, ref, ws.path("d/batch-001.h5"))
    shifted = drift_json(ws, ref, ws.path("d/batch-002.h5"))
    assert clean is not None and shifted is not None, f"{label}: drift runs"
    flags = [f["drifted"] for f in shifted["features"]]
    assert flags == [True, True] + [False] * 6, \
        f"{label}: 0.5 sigma shift flags exactly the 2 shifted features: {flags}"
    assert not any(f["drifted"] for f in clean["features"]), \
        f"{label}: the batch without drift is not flagged: {[f['drifted'] for f in clean['features']]}"
    assert shifted["statistics"] == ("exact" if label == "exact" else "histogram"), \
        f"{label}: method reported ({shifted['statistics']})"


def test_false_positive_rate(module_workspace):
    """False-positive rate over 20 seeds (against the training file: exact statistics)."""
    ws = module_workspace
    false_features, false_datasets, total = 0, 0, 0
    for seed in range(1, 21):
        d = ws.path(f"fp{seed}")
        ws.make_data(d, "--rows", "20000", "--features", "8", "--batches", "1", "--batch-rows", "2000",
                     "--seed", str(seed))
        for reference in (f"{d}/train.h5",):
            r = drift_json(ws, reference, f"{d}/batch-001.h5")
            false_features += sum(f["drifted"] for f in r["features"])
            false_datasets += r["dataset_drift"]
            total += len(r["features"])
    print(f"false-positive rate over 20 seeds: {false_features}/{total} features, {false_datasets}/20 datasets")
    assert false_datasets == 0 and false_features / total < 0.05, \
        f"no-drift batches: feature false-positive rate {false_features / total:.3f} < 0.05, no dataset drift " \
        f"({false_features}/{total} features, {false_datasets}/20 datasets)"


def test_html_report(reference):
    _, ws = reference
    p = ws.run(["drift", "--reference", ws.path("ref.profile.h5"), "--current", ws.path("d/batch-002.h5"), "--html",
                ws.path("r.html")])
    html = open(ws.path("r.html")).read() if os.path.exists(ws.path("r.html")) else ""
    heads = re.findall(r'<tr(?: class="drift")?><td><a href="#f-[^"]+">([^<]+)</a>', html)
    hists = html.count("share of rows per bin</title>")
    assert p.returncode == 0 and hists == 8 and html.count("share per bin</title>") == 8, \
        f"HTML report draws 8 features as inline SVG, a histogram and a sparkline each: (exit {p.returncode}, " \
        f"{hists} histograms) {p.stderr[-300:]}"
    assert heads[:2] and set(x.strip() for x in heads[:2]) == {"f0", "f1"}, \
        f"HTML report sorts by drift score: {heads}"
    assert "http" not in html, "HTML report needs no network"


def test_preprocess_equals_numpy(reference):
    """driftrun preprocess: the fitted transform applied to a file, checked with numpy."""
    _, ws = reference
    cfg = ws.write_config("pp.toml", f"""
[data]
train = "{ws.path('d/train.h5')}"
[preprocess]
clip_sigma = 3.0
columns = ["f2:impute=median", "f3:scale=minmax"]
""")
    p = ws.run(["preprocess", "--config", cfg, "--in", ws.path("d/batch-001.h5"), "--out", ws.path("pp.h5"),
                "--json"])
    assert p.returncode == 0, must_msg(p, "preprocess writes the transformed file")
    rep = json.loads(p.stdout)
    with h5py.File(ws.path("d/train.h5")) as g, h5py.File(ws.path("d/batch-001.h5")) as b, \
            h5py.File(ws.path("pp.h5")) as o:
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
    assert np.all(np.delete(err, 2, axis=1) < 1e-4) and np.all(err[:, 2] < 1e-4 + width), \
        f"preprocess output equals numpy's impute/scale/clip (max err {err.max():.2e})"
    imputed = [c["imputed"] for c in rep["columns"]]
    assert imputed == list(np.isnan(x).sum(0)), \
        f"preprocess reports imputed counts ({imputed} vs {list(np.isnan(x).sum(0))})"


# ---- bad input: exit 3 naming the problem ------------------------------------------

@pytest.fixture(scope="module")
def corrupt_profile(reference):
    _, ws = reference

    def run():
        with open(ws.path("ref.profile.h5"), "rb") as f:
            blob = f.read()
        with open(ws.path("corrupt.profile.h5"), "wb") as f:
            f.write(blob[: len(blob) // 3])
        return ws.path("corrupt.profile.h5")
    return ws.once("corrupt_profile", run)


BAD = [
    # what, reference, current, word the message must hold
    ("mismatched feature names", "ref.profile.h5", "other", "g0"),
    ("mismatched feature names (data)", "d/train.h5", "other", "feature names differ"),
    ("fewer features", "ref.profile.h5", "fewer", "7 features"),
    ("empty batch", "ref.profile.h5", "empty", "empty"),
    # Found by a stranger: an empty reference was blamed on the current file.
    ("empty reference", "empty", "d/batch-001.h5", "--reference '{empty}' has no rows"),
    ("corrupt profile", "corrupt.profile.h5", "d/batch-001.h5", "corrupt.profile.h5"),
    ("missing current", "ref.profile.h5", "nope.h5", "nope.h5"),
]


@pytest.mark.parametrize("what, r_, c_, word", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exit_3(data, reference, corrupt_profile, what, r_, c_, word):
    ws = data.ws
    ref = data.empty if r_ == "empty" else ws.path(r_)
    cur = getattr(data, c_) if c_ in ("other", "fewer", "empty") else ws.path(c_)
    word = word.format(empty=data.empty)
    p = ws.run(["drift", "--reference", ref, "--current", cur, "--json"])
    assert p.returncode == 3 and word in p.stderr and p.stdout == "", \
        f"{what}: exit 3 naming it ({word!r}): (exit {p.returncode}) {p.stderr[-300:]}"


def test_profile_warns_of_a_column_without_values(data):
    """Found by a stranger: an all-NaN column profiled silently, and every
    later batch was then flagged as drifted in it."""
    ws = data.ws
    cols = [np.random.default_rng(1).normal(0, 1, 200) for _ in range(3)] + [np.full(200, np.nan)]
    src = write(ws.path("nan-col.h5"), cols, ["a", "b", "c", "blank"])
    p = ws.run(["profile", "--in", src, "--out", ws.path("nan-col.profile.h5")])
    assert p.returncode == 0, must_msg(p, "a profile with an empty column is still written")
    assert "feature blank" in p.stderr and "no finite value" in p.stderr, p.stderr
    assert "feature a " not in p.stderr, p.stderr


def test_a_small_batchs_missing_share_counts_only_beyond_chance(data):
    """Found by a stranger: 2 NaNs in a 15-row batch (13%) against a 2% reference
    share was a "broken pipeline" (quality) in 4 of 6 tiny clean batches. A rise
    now counts when a batch of that size drawn at the reference's share would
    reach it in under 0.1% of draws (binomial tail); a column with no value at
    all still does."""
    ws = data.ws
    rng = np.random.default_rng(3)
    ref = rng.normal(0, 1, 2000)
    ref[rng.choice(2000, 40, replace=False)] = np.nan  # 2% missing
    r = write(ws.path("miss-ref.h5"), [ref, rng.normal(0, 1, 2000)], ["a", "b"])
    small = rng.normal(0, 1, 15)
    small[[2, 9]] = np.nan  # 13%: p = 0.035 by chance
    c1 = write(ws.path("miss-small.h5"), [small, rng.normal(0, 1, 15)], ["a", "b"])
    j = drift_json(ws, r, c1)
    a = next(f for f in j["features"] if f["name"] == "a")
    assert not (a["drifted"] and a.get("decided_by") == "missing"), a
    broken = np.full(15, np.nan)
    c2 = write(ws.path("miss-broken.h5"), [broken, rng.normal(0, 1, 15)], ["a", "b"])
    a = next(f for f in drift_json(ws, r, c2)["features"] if f["name"] == "a")
    assert a["drifted"] and a["decided_by"] == "missing", a
    many = rng.normal(0, 1, 15)
    many[:6] = np.nan  # 40%: p < 1e-6
    c3 = write(ws.path("miss-many.h5"), [many, rng.normal(0, 1, 15)], ["a", "b"])
    a = next(f for f in drift_json(ws, r, c3)["features"] if f["name"] == "a")
    assert a["drifted"] and a["decided_by"] == "missing", a


def test_readme_example_shows_dataset_drift_with_the_defaults(workspace):
    """The README's example: make-data's default drift and drift's default rule
    agree: the drifted batch is dataset drift, the batch before it is not."""
    ws = workspace
    ws.make_data(ws.path("data/d"), "--batches", "5", "--drift", "mean", "--drift-from", "3")
    p = ws.run(["profile", "--in", "data/d/train.h5", "--out", "ref.profile.h5"])
    assert p.returncode == 0, must_msg(p, "profile")
    drifted = drift_json(ws, "ref.profile.h5", "data/d/batch-003.h5")
    calm = drift_json(ws, "ref.profile.h5", "data/d/batch-001.h5")
    assert drifted["dataset_drift"] is True, [f["drifted"] for f in drifted["features"]]
    assert calm["dataset_drift"] is False and not any(f["drifted"] for f in calm["features"])
    console = ws.run(["drift", "--reference", "ref.profile.h5", "--current", "data/d/batch-003.h5"])
    assert console.returncode == 0 and console.stdout.startswith("DATASET DRIFT"), console.stdout[:300]
