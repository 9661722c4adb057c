#!/usr/bin/env bash
# Regenerates the README's report pictures (docs/*.png) from synthetic data:
# the drift report of a drifted batch and the run report of a training run,
# rendered by headless Chromium exactly as tests/integration/test_reports.py
# renders them. Assumes scripts/setup.sh and scripts/build.sh have run.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dr=./build/driftrun
$dr make-data --out "$work/d" --rows 20000 --batches 3 --drift mean --drift-from 3 >/dev/null
$dr profile --in "$work/d/train.h5" --out "$work/ref.profile.h5" >/dev/null
$dr drift --reference "$work/ref.profile.h5" --current "$work/d/batch-003.h5" --html "$work/drift.html" >/dev/null
cat >"$work/run.toml" <<TOML
name = "demo"
[data]
train = "$work/d/train.h5"
[model]
hidden = [64, 64]
[train]
epochs = 8
batch_size = 256
optimizer = "adamw"
lr = 3e-3
schedule = "cosine"
[preprocess]
clip_sigma = 3.0
TOML
$dr train --config "$work/run.toml" --run-dir "$work/run" --quiet --noprogress
shot() {  # html png height
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,"$3" \
    --screenshot="$2" "file://$1" >/dev/null 2>&1
  echo "wrote $2"
}
shot "$work/drift.html" docs/drift-report.png 1500
shot "$work/run/report.html" docs/run-report.png 1300
