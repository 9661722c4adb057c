#!/usr/bin/env bash
# Fuzzes driftrun's input readers with libFuzzer: builds build-fuzz/ with clang
# (-DDRIFTRUN_FUZZ=ON: ASan + UBSan on driftrun's code, incremental), then runs
# each target for SECONDS (default 60) on its seed corpus tests/fuzz/corpus/<t>/
# plus a scratch corpus build-fuzz/corpus/<t>/ for what it finds. Findings go to
# build-fuzz/artifacts/<t>/, logs to build-fuzz/logs/<t>.log; each finding is
# replayed and placed by its stack. Prints one line per target: executions, new
# corpus units, crashes and timeouts in driftrun's code, findings inside libhdf5
# (HDF5 1.10's own bugs on damaged files: reported, failing only with
# FUZZ_STRICT=1), and findings that did not happen again on replay. Exits 1
# when driftrun's code crashed, leaked, hit undefined behaviour or timed out.
# FUZZ_TARGETS="h5 config" limits the targets; FUZZ_JOBS sets build parallelism.
# A fixed finding becomes a seed, so CTest's replay keeps it fixed (minimise first):
#   build-fuzz/tests/fuzz/fuzz_h5 -minimize_crash=1 -runs=10000 \
#     -exact_artifact_path=tests/fuzz/corpus/h5/NAME build-fuzz/artifacts/h5/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
bash scripts/setup.sh
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "[fuzz] apt: installing clang (libFuzzer)"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get install -y -qq clang >/dev/null
fi
TARGETS=(${FUZZ_TARGETS:-config model_ref h5 checkpoint profile drift})
TORCH_PREFIX=$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
if [[ ! -f build-fuzz/build.ninja ]]; then
  mkdir -p build-fuzz
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDRIFTRUN_FUZZ=ON -DDRIFTRUN_BUILD_TESTS=OFF -DDRIFTRUN_CUDA=OFF \
    -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DPython3_EXECUTABLE="$PWD/.venv/bin/python" \
    >build-fuzz/configure.log 2>&1 || { cat build-fuzz/configure.log; exit 1; }
fi
cmake --build build-fuzz -j "${FUZZ_JOBS:-2}" --target "${TARGETS[@]/#/fuzz_}"

# Inputs are small files; anything a reader allocates is capped in the targets.
declare -A MAX_LEN=([config]=8192 [model_ref]=512 [h5]=65536 [checkpoint]=65536 [profile]=65536 [drift]=4096)
# allocator_may_return_null: an impossible malloc (libhdf5 sizing a buffer from a
# damaged header) returns NULL as glibc does; operator new still reports it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp}
# Where a finding happened, from the stack its replay prints: "hdf5" when the
# innermost frame that is not the sanitizer, libFuzzer, libc, the allocator or
# a libc interceptor is in libhdf5, else "driftrun".
where_of() {
  grep -E '^ +#[0-9]+ ' "$1" |
    grep -vE '__sanitizer|fuzzer::|libc\.so|sysdeps/|in __(mem|str)[a-z_0-9]*|in __asan::|in (__interceptor_[a-z_0-9]+|__asan[a-z_0-9]*|__ubsan[a-z_0-9]*|malloc|calloc|realloc|free|operator new|mem[a-z]+|str[a-z]+)( |\(|$)|libclang_rt|MallocHook' |
    head -1 | grep -q 'libhdf5' && echo hdf5 || echo driftrun
}
# Scratch files of the targets: in memory when /dev/shm is there (HDF5 writers fsync).
scratch=$(mktemp -d "$([[ -w /dev/shm ]] && echo /dev/shm || echo "$PWD/build-fuzz")/driftrun-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
status=0
rows=()
for t in "${TARGETS[@]}"; do
  corpus=build-fuzz/corpus/$t artifacts=build-fuzz/artifacts/$t log=build-fuzz/logs/$t.log
  mkdir -p "$corpus" "$artifacts" build-fuzz/logs
  units_before=$(ls "$corpus" | wc -l)
  touch "$scratch/start"
  # Fork mode: a finding (crash, sanitizer report, leak, out-of-memory, an input
  # running over 10 s) is saved and fuzzing goes on for the whole time.
  TMPDIR=$scratch build-fuzz/tests/fuzz/fuzz_$t -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    "$corpus" "tests/fuzz/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" -max_len="${MAX_LEN[$t]}" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/" >"$log" 2>&1 || true
  execs=$(grep -oE '^#[0-9]+: cov' "$log" | tail -1 | tr -dc 0-9)
  units=$(($(ls "$corpus" | wc -l) - units_before))
  # Each new finding is replayed on its own and placed by its stack.
  crashes=0 timeouts=0 in_hdf5=0 gone=0
  while IFS= read -r a; do
    # A malloc limit puts the stack of the allocation in an out-of-memory report.
    TMPDIR=$scratch timeout 60 build-fuzz/tests/fuzz/fuzz_$t -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=256 \
      "$a" >"$scratch/replay" 2>&1 &&
      { gone=$((gone + 1)); continue; }
    if [[ $(where_of "$scratch/replay") == hdf5 ]]; then
      in_hdf5=$((in_hdf5 + 1))
    elif grep -q 'ERROR: libFuzzer: timeout' "$scratch/replay"; then
      timeouts=$((timeouts + 1)) && echo "driftrun timeout: $a" >&2
    else
      crashes=$((crashes + 1)) && echo "driftrun crash: $a" >&2
    fi
  done < <(find "$artifacts" -type f -newer "$scratch/start")
  if ((crashes + timeouts)); then
    status=1
    echo "fuzz_$t: $crashes crashes, $timeouts timeouts in driftrun's code; see $log and $artifacts/" >&2
  fi
  if ((in_hdf5)); then
    echo "fuzz_$t: $in_hdf5 findings inside libhdf5 (not driftrun's code; FUZZ_STRICT=1 fails on them)" >&2
    [[ ${FUZZ_STRICT:-0} == 0 ]] || status=1
  fi
  rows+=("$(printf '%-11s %12s %10s %8s %9s %8s %11s' "$t" "${execs:-0}" "$units" "$crashes" "$timeouts" \
    "$in_hdf5" "$gone")")
done
printf '%-11s %12s %10s %8s %9s %8s %11s\n' target executions new_units crashes timeouts in_hdf5 not_repeated
printf '%s\n' "${rows[@]}"
exit $status
