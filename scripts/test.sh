#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest: unit, mpirun integration,
# PyTorch cross-checks). Extra arguments go to ctest (for example -R config).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
source scripts/mpi_env.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
