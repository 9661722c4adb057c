"""Baseline for scripts/bench/drift_vs_scipy.sh: the statistics of `driftrun
drift` (exact method) computed with scipy and numpy, per feature: KS statistic
and p-value (ks_2samp), Wasserstein-1 / reference std, Jensen-Shannon distance on
Sturges bins, PSI on reference deciles. Prints the wall time including reading
the two files."""
import sys
import time

t0 = time.perf_counter()
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from scipy.spatial.distance import jensenshannon  # noqa: E402
from scipy.stats import ks_2samp, wasserstein_distance  # noqa: E402

t_import = time.perf_counter() - t0
t0 = time.perf_counter()
with h5py.File(sys.argv[1]) as f, h5py.File(sys.argv[2]) as g:
    ref, cur = f["/features"][()], g["/features"][()]
drifted = 0
for j in range(ref.shape[1]):
    a, b = ref[:, j], cur[:, j]
    a, b = a[np.isfinite(a)].astype(np.float64), b[np.isfinite(b)].astype(np.float64)
    ks = ks_2samp(a, b)
    w = wasserstein_distance(a, b) / np.std(a)
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    js = jensenshannon(np.histogram(a, edges)[0], np.histogram(b, edges)[0])
    q = np.quantile(a, np.arange(1, 10) / 10)
    r = np.maximum(np.bincount(np.searchsorted(q, a), minlength=10) / len(a), 1e-4)
    c = np.maximum(np.bincount(np.searchsorted(q, b), minlength=10) / len(b), 1e-4)
    psi = np.sum((c - r) * np.log(c / r))
    drifted += w >= 0.1
print(f"{time.perf_counter() - t0:.3f} {t_import:.3f} {drifted}")
