#!/usr/bin/env bash
# Installs everything driftrun needs to build and test, and nothing else.
# This is the only place that knows how: Debian packages through apt, LibTorch
# (the PyPI torch==2.11.0 wheel) and the test-only Python packages in a
# project-local virtual environment at .venv. Idempotent: a second run checks and
# returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly TORCH_VERSION="2.11.0"
readonly APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config python3-venv clang-format clang-tidy
  libopenmpi-dev openmpi-bin libhdf5-dev libgflags-dev libsqlite3-dev
  libtomlplusplus-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libcpp-httplib-dev
  prometheus  # tests only: a real Prometheus scrapes the service's /metrics
  slurm-wlm munge  # driftrun submit; tests start a one-node cluster (scripts/slurm/cluster.sh)
  chromium  # tests only: the HTML reports are rendered in a real headless browser
)
# pillow and mlflow are for tests: screenshots of the reports, a real MLflow
# server that receives runs and registry exports.
readonly PY_PACKAGES=("torch==${TORCH_VERSION}" numpy h5py scipy onnxruntime scikit-learn pytest pillow
  "mlflow==3.17.2")

log() { printf '[setup] %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
else
  log "apt: all packages present"
fi

PY=${DRIFTRUN_PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
stamp=".venv/.driftrun-packages"
want="${PY_PACKAGES[*]}"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  log "pip: installing ${want} (LibTorch comes from the torch wheel; first time is large)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "${PY_PACKAGES[@]}"
  echo "$want" >"$stamp"
else
  log "pip: ${want} present"
fi
log "done"
