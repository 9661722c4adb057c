#!/usr/bin/env bash
# Regenerates the README's report pictures (docs/*.png) from synthetic data:
# the drift report of a drifted batch, the run report of a training run and
# the service dashboard after the demo (scripts/demo.sh, which it runs),
# rendered by headless Chromium as the tests render them.
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
bash scripts/demo.sh >/dev/null
$dr report --config configs/service.toml --set service.state=demo-run/state --set registry.path=demo-run/registry \
  --set monitor.incoming=demo-run/incoming --out "$work/dash.html" >/dev/null
shot "$work/dash.html" docs/dashboard.png 1250
