#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest: unit, mpirun integration,
# PyTorch cross-checks). Extra arguments go to ctest (for example -R config).
#
#   bash scripts/test.sh                 the suite on the normal build (build/)
#   bash scripts/test.sh --sanitize      the same suite on an AddressSanitizer +
#                                        UndefinedBehaviorSanitizer build of
#                                        driftrun's own code (build-asan/; LibTorch,
#                                        MPI and HDF5 stay uninstrumented); about
#                                        3x slower; suppressions in scripts/sanitize/
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
if [[ ${1:-} == --sanitize ]]; then
  sanitize=1
  shift
fi
bash scripts/setup.sh
source scripts/mpi_env.sh
if ((sanitize)); then
  TORCH_PREFIX=$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
  if [[ ! -f build-asan/build.ninja ]]; then
    mkdir -p build-asan
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDRIFTRUN_SANITIZE=ON \
      -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DPython3_EXECUTABLE="$PWD/.venv/bin/python" \
      >build-asan/configure.log 2>&1 || { cat build-asan/configure.log; exit 1; }
  fi
  cmake --build build-asan -j "$(nproc)"
  # Any report fails the test that caused it (halt_on_error, no recovery from
  # UB). Leaks in the uninstrumented libraries are suppressed in lsan.supp
  # (each line says why); CUDA needs the shadow gap unprotected.
  # Open MPI unloads its components (dlclose) before LeakSanitizer runs, which
  # leaves their leak stacks unsymbolized and unsuppressable: keep them loaded.
  # fast_unwind_on_malloc=0 gives full stacks through the uninstrumented
  # libraries, so the suppressions match by library name.
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:protect_shadow_gap=0:detect_odr_violation=0:fast_unwind_on_malloc=0"
  export LSAN_OPTIONS="suppressions=$PWD/scripts/sanitize/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/sanitize/ubsan.supp"
  cd build-asan
  ctest --output-on-failure --timeout 1800 -E '^format$' "$@"
  exit
fi
bash scripts/build.sh
# The machine, for reading a failure later (a result that depends on the core
# count or the instruction set shows up here).
echo "test machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
cd build
ctest --output-on-failure --timeout 900 "$@"
