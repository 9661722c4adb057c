#!/usr/bin/env bash
# Configures (once) and builds driftrun into build/ incrementally. Assumes
# scripts/setup.sh has run. Extra arguments go to the CMake configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_PREFIX=$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
if [[ ! -f build/build.ninja ]]; then
  mkdir -p build
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DPython3_EXECUTABLE="$PWD/.venv/bin/python" "$@" >build/configure.log 2>&1 ||
    { cat build/configure.log; exit 1; }
fi
cmake --build build -j "$(nproc)"
