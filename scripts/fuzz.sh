#!/usr/bin/env bash
# Fuzzes driftrun's input readers with libFuzzer: builds build-fuzz/ with clang
# (-DDRIFTRUN_FUZZ=ON: ASan + UBSan on driftrun's code, incremental), then runs
# each target for SECONDS (default 60) on its seed corpus tests/fuzz/corpus/<t>/
# plus a scratch corpus build-fuzz/corpus/<t>/ for what it finds. Crash inputs
# go to build-fuzz/artifacts/<t>/, logs to build-fuzz/logs/<t>.log. Prints one
# line per target: executions, new corpus units, crashes and timeouts in
# driftrun's code, and findings whose stack ends inside libhdf5 (HDF5 1.10's own
# bugs on damaged files: reported, not failed unless FUZZ_STRICT=1). Exits 1
# when driftrun's code crashed, leaked, hit undefined behaviour or timed out.
# FUZZ_TARGETS="h5 config" limits the targets; FUZZ_JOBS sets build parallelism.
# Minimise a crash and keep it as a seed, so CTest's replay keeps it fixed:
#   build-fuzz/tests/fuzz/fuzz_h5 -minimize_crash=1 -runs=10000 \
#     -exact_artifact_path=tests/fuzz/corpus/h5/crash-NAME build-fuzz/artifacts/h5/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
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
stat_of() { grep -o "stat::$1: *[0-9]*" "$2" | grep -o '[0-9]*$' | tail -1 || echo 0; }
# Where a finding happened: "hdf5" when the innermost frame of its stack that is
# not the sanitizer, libFuzzer, libc or the allocator is in libhdf5, else "driftrun".
where_of() {
  grep -E '^ +#[0-9]+ ' "$1" | grep -vE '__sanitizer|fuzzer::|libc\.so|in (malloc|calloc|realloc|free|operator new|mem[a-z]+|str[a-z]+|__interceptor|__asan|__ubsan)\b|libclang_rt|MallocHook' |
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
  : >"$log"
  execs=0 units=0 crashes=0 timeouts=0 in_hdf5=0
  end=$((SECONDS + SECONDS_PER_TARGET))
  # libFuzzer stops at its first finding (crash, sanitizer report, leak,
  # out-of-memory, an input running over 10 s): it is counted and fuzzing
  # resumes from the corpus for the rest of the time.
  while ((SECONDS < end)); do
    rc=0
    TMPDIR=$scratch build-fuzz/tests/fuzz/fuzz_$t "$corpus" "tests/fuzz/corpus/$t" \
      -max_total_time=$((end - SECONDS)) -max_len="${MAX_LEN[$t]}" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log.run" 2>&1 || rc=$?
    cat "$log.run" >>"$log"
    execs=$((execs + $(stat_of number_of_executed_units "$log.run")))
    units=$((units + $(stat_of new_units_added "$log.run")))
    ((rc != 0)) || break
    if [[ $(where_of "$log.run") == hdf5 ]]; then
      in_hdf5=$((in_hdf5 + 1))
    elif grep -q 'ERROR: libFuzzer: timeout' "$log.run"; then
      timeouts=$((timeouts + 1))
    else
      crashes=$((crashes + 1))
    fi
    grep -q 'Test unit written' "$log.run" || break  # it failed at start: no use retrying
  done
  rm -f "$log.run"
  if ((crashes + timeouts)); then
    status=1
    echo "fuzz_$t: $crashes crashes, $timeouts timeouts in driftrun; see $log and $artifacts/" >&2
  fi
  if ((in_hdf5)); then
    echo "fuzz_$t: $in_hdf5 findings inside libhdf5 (not driftrun's code; FUZZ_STRICT=1 fails on them)" >&2
    [[ ${FUZZ_STRICT:-0} == 0 ]] || status=1
  fi
  rows+=("$(printf '%-11s %12s %10s %8s %9s %8s' "$t" "$execs" "$units" "$crashes" "$timeouts" "$in_hdf5")")
done
printf '%-11s %12s %10s %8s %9s %8s\n' target executions new_units crashes timeouts in_hdf5
printf '%s\n' "${rows[@]}"
exit $status
