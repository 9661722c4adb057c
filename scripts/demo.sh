#!/usr/bin/env bash
# Sets up, builds, makes the demo data (once) and runs the demo job on 2 ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
source scripts/mpi_env.sh
[[ -f data/demo/train.h5 ]] || ./build/driftrun make-data --out data/demo --batches 4 --drift mean --drift-from 3
mpirun -np 2 --bind-to none ./build/driftrun train --config configs/demo.toml "$@"
# The run exported model.onnx and registered itself (alias candidate):
./build/driftrun registry list --model demo
