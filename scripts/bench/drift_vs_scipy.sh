#!/usr/bin/env bash
# Benchmark: `driftrun drift` (exact statistics) against scipy + numpy computing
# the same statistics, on ROWS x 32 features (reference and current batch of
# equal size), in one run. Prints both wall times and the ratio.
# Usage: bash scripts/bench/drift_vs_scipy.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${1:-1000000}
work=$(mktemp -d /tmp/driftrun-drift-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
./build/driftrun make-data --out "$work" --rows "$ROWS" --features 32 --batches 1 --batch-rows "$ROWS" \
  --drift mean --drift-from 1 --drift-magnitude 0.3 >/dev/null
t0=$(date +%s.%N)
./build/driftrun drift --reference "$work/train.h5" --current "$work/batch-001.h5" --json >"$work/report.json"
t1=$(date +%s.%N)
./build/driftrun drift --reference "$work/train.h5" --current "$work/batch-001.h5" --set drift.memory_mb=0 >/dev/null
t2=$(date +%s.%N)
./build/driftrun profile --in "$work/train.h5" --out "$work/ref.profile.h5" >/dev/null
t3=$(date +%s.%N)
./build/driftrun drift --reference "$work/ref.profile.h5" --current "$work/batch-001.h5" >/dev/null
t4=$(date +%s.%N)
read -r scipy_s import_s scipy_drifted < <(.venv/bin/python scripts/bench/drift_scipy.py "$work/train.h5" "$work/batch-001.h5")
.venv/bin/python - "$t0" "$t1" "$scipy_s" "$import_s" "$scipy_drifted" "$work/report.json" "$ROWS" "$t2" "$t3" "$t4" <<'PY'
import json, sys
t0, t1, scipy_s, import_s, scipy_drifted = map(float, sys.argv[1:6])
t2, t3, t4 = map(float, sys.argv[8:11])
rep = json.load(open(sys.argv[6]))
ours = t1 - t0
print(f"drift over {int(sys.argv[7])} x 32 features (reference and batch), exact statistics, 2 cores")
print(f"driftrun drift (whole command, incl. reading):  {ours:8.2f} s  ({rep['statistics']}, {rep['drifted_features']} drifted)")
print(f"scipy + numpy (reading + statistics):           {scipy_s:8.2f} s  (+{import_s:.2f} s imports, {int(scipy_drifted)} drifted)")
print(f"driftrun drift, histogram statistics (raw reference): {t2 - t1:8.2f} s")
print(f"driftrun profile (once per model version):      {t3 - t2:8.2f} s")
print(f"driftrun drift against the stored profile:       {t4 - t3:8.2f} s")
print(f"ratio vs scipy: exact {scipy_s / ours:.1f}x, histogram {scipy_s / (t2 - t1):.1f}x, "
      f"profile {scipy_s / (t4 - t3):.1f}x (target >= 10x)")
PY
