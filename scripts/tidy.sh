#!/usr/bin/env bash
# clang-tidy (.clang-tidy's checks) over driftrun's own C++ sources, with the
# normal build's compile commands (build/compile_commands.json, GCC's
# precompiled-header flags removed: clang cannot read GCC's .gch files).
#   bash scripts/tidy.sh            every source file (about 30 min on 2 cores: LibTorch's headers)
#   bash scripts/tidy.sh --ci       CI's share (CTest test `tidy`): every file that does not include
#                                   LibTorch, plus the LibTorch files the last commit changed
#   bash scripts/tidy.sh FILE...    only these files
# Exits non-zero on any finding; prints one line per finding.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[[ -f $BUILD/compile_commands.json ]] || { echo "tidy: no $BUILD/compile_commands.json; build first (bash scripts/build.sh)"; exit 2; }
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy is not installed (bash scripts/setup.sh installs it)"; exit 2; }
db=$BUILD/tidy
mkdir -p "$db"
python3 - "$BUILD/compile_commands.json" "$db/compile_commands.json" "$(cd "$BUILD" && pwd)/" <<'PY'
import json, re, sys
out = []
for e in json.load(open(sys.argv[1])):
    cmd = e.get("command") or " ".join(e["arguments"])
    if e["file"].startswith(sys.argv[3]) or e["file"].endswith(".cu"):
        continue  # generated files, CUDA (nvcc flags)
    cmd = re.sub(r"-Xclang -include-pch -Xclang \S+|-include \S*cmake_pch\S*|-Winvalid-pch", "", cmd)
    out.append(dict(e, command=cmd))
json.dump(out, open(sys.argv[2], "w"))
PY
if [[ ${1:-} == --ci ]]; then
  changed=$(git diff --name-only HEAD~1 2>/dev/null | sed "s|^|$PWD/|" || true)
  mapfile -t files < <(python3 -c "
import json, sys
changed = set(sys.argv[2].split())
for e in json.load(open(sys.argv[1])):
    if 'torch/include' not in e['command'] or e['file'] in changed:
        print(e['file'])" "$db/compile_commands.json" "$changed")
elif (($#)); then
  files=("$@")
else
  mapfile -t files < <(python3 -c "import json,sys; [print(e['file']) for e in json.load(open(sys.argv[1]))]" "$db/compile_commands.json")
fi
filter='^'"$PWD"'/(bench|comm|common|dataio|export|kernels|models|monitor|registry|runner|scheduler|tests|trainers)/'
log=$(mktemp)
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 1 clang-tidy -p "$db" --quiet --header-filter="$filter" \
  >"$log" 2>/dev/null || true
findings=$(grep -E '^/.*: (warning|error):' "$log" | sort -u || true)
rm -f "$log"
if [[ -n $findings ]]; then
  echo "$findings"
  echo "tidy: $(echo "$findings" | wc -l) finding(s) in ${#files[@]} file(s)"
  exit 1
fi
echo "tidy: ${#files[@]} file(s), no findings"
