#!/usr/bin/env bash
# The retraining service on the embedded default: sets up and builds, makes the
# demo data (once), then runs `driftrun serve` on configs/service.toml with its
# state, registry and incoming folder in demo-run/ (started afresh each time):
# the initial model is trained and promoted, a clean batch arrives (no
# retrain), a drifted batch arrives (a retrain, a new production version), and
# the service stops once both batches are handled and the job has ended. Prints
# the service's status and the registry at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
source scripts/mpi_env.sh
[[ -f data/demo/batch-004.h5 ]] || ./build/driftrun make-data --out data/demo --batches 4 --drift mean --drift-from 3
rm -rf demo-run
mkdir -p demo-run/incoming
sets=(--set service.state=demo-run/state --set registry.path=demo-run/registry
  --set monitor.incoming=demo-run/incoming "$@")
# Batches arrive as complete files renamed into the watched folder: batch-001
# is like the training data, batch-003 has a mean shift in half its features.
for b in 001 003; do
  cp "data/demo/batch-$b.h5" "demo-run/incoming/.batch-$b.h5.tmp"
  mv "demo-run/incoming/.batch-$b.h5.tmp" "demo-run/incoming/batch-$b.h5"
  sleep 1.1 # distinct modification times: the service takes batches oldest first
done
./build/driftrun serve --config configs/service.toml --max-batches 2 "${sets[@]}"
echo
./build/driftrun status --config configs/service.toml "${sets[@]}"
echo
./build/driftrun registry list --registry demo-run/registry --model demo
