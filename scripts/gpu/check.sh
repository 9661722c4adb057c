#!/usr/bin/env bash
# The GPU check, in one device call (about 6-8 minutes; build 70-85 s):
#   here:        bash scripts/build.sh && bash scripts/gpu/prepare.sh
#   device tool: run(command="bash scripts/gpu/check.sh", carry=[".gpu"], timeout_s=540)
# Builds driftrun with CUDA against the GPU machine's torch (/opt/torch/.venv) and
# the carried .gpu/sysroot (MPI, HDF5, gflags, ...), runs the GPU tests (NCCL
# one-rank communicator; CUDA training equals CPU training within 1e-4; every
# CUDA kernel against its CPU reference), then benchmarks the kernels (fused
# transform and histograms vs a device-to-device copy and vs PyTorch eager) and
# GPU training samples/s and GPU busy (nvidia-smi) three ways (CUDA graph,
# hand-written step launched eagerly, autograd) next to PyTorch eager and
# torch.compile(mode="reduce-overhead") (Python, same model, data, batch and
# optimizer) on the same GPU, runs the pool executor on the GPU (two jobs on one
# kept NCCL communicator), and prints a short table last.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
R=$PWD/.gpu/sysroot
L=$R/usr/lib/x86_64-linux-gnu
PY=${DRIFTRUN_GPU_PYTHON:-/opt/torch/.venv/bin/python}
[[ -d $R ]] || { echo "no .gpu/sysroot: run scripts/gpu/prepare.sh here and carry .gpu"; exit 1; }
TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
NCCL_DIR=$($PY -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else list(nvidia.nccl.__path__)[0])' 2>/dev/null)
export PKG_CONFIG_SYSROOT_DIR=$R PKG_CONFIG_LIBDIR=$L/pkgconfig:$R/usr/share/pkgconfig
export LD_LIBRARY_PATH=$L:$L/hdf5/serial:$L/openmpi/lib${NCCL_DIR:+:$NCCL_DIR/lib}:${LD_LIBRARY_PATH:-}
export PATH=$R/usr/bin:$PATH OPAL_PREFIX=$R/usr OMPI_MCA_ess_singleton_isolated=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
nccl_args=()
if [[ -n $NCCL_DIR && -f $NCCL_DIR/include/nccl.h ]]; then
  nccl_args=(-DDRIFTRUN_NCCL_INCLUDE="$NCCL_DIR/include" -DDRIFTRUN_NCCL_LIB="$(ls "$NCCL_DIR"/lib/libnccl.so* | head -1)")
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
t0=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DDRIFTRUN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DTORCH_CUDA_ARCH_LIST=9.0 -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$R/usr" \
  -DMPI_C_HEADER_DIR="$L/openmpi/include" -DMPI_C_LIB_NAMES=mpi -DMPI_mpi_LIBRARY="$L/libmpi.so" \
  -DDRIFTRUN_HDF5_INCLUDE="$R/usr/include/hdf5/serial" -DDRIFTRUN_HDF5_LIBRARY="$L/hdf5/serial/libhdf5.so" \
  -DSQLite3_INCLUDE_DIR="$R/usr/include" -DSQLite3_LIBRARY="$L/libsqlite3.so" -DGTest_DIR="$L/cmake/GTest" -Dnlohmann_json_DIR="$R/usr/share/cmake/nlohmann_json" \
  -DPython3_EXECUTABLE="$PY" "${nccl_args[@]}" >"$OUT/configure.log" 2>&1 ||
  { tail -40 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j 16 --target driftrun trainers_test kernels_test kernels_bench >"$OUT/build.log" 2>&1 ||
  { grep -E "error|Error" "$OUT/build.log" | head -30; exit 1; }
echo "build: $(($(date +%s) - t0)) s"
# The exporter built here (prepare.sh): the service registers versions with their ONNX file.
cp .gpu/driftrun-export build-gpu/driftrun-export

./build-gpu/tests/trainers_test --gtest_filter='Gpu.*:Gpu/*' 2>&1 | tee "$OUT/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}
./build-gpu/tests/kernels_test --gtest_filter='*Cuda*:*/*' 2>&1 | tee -a "$OUT/gpu_tests.log"
kernels_rc=${PIPESTATUS[0]}
[[ $kernels_rc == 0 ]] || tests_rc=$kernels_rc
./build-gpu/kernels_bench 16000000 32 10 2>&1 | tee "$OUT/kernels_bench.log"

# Benchmark: driftrun on the GPU next to PyTorch on the same GPU.
W=$(mktemp -d)
EPOCHS=40  # a few seconds of steady training per run, for GPU busy
./build-gpu/driftrun make-data --out "$W/data" --rows 500000 --features 32 --missing 0.01 >/dev/null
cat >"$W/gpu.toml" <<TOML
name = "gpubench"
[data]
train = "$W/data/train.h5"
val_fraction = 0.0
[model]
hidden = [512, 512]
[train]
epochs = $EPOCHS
batch_size = 4096
optimizer = "adamw"
lr = 1e-3
device = "cuda"
[checkpoint]
every_steps = 0
[export]
onnx = false
TOML
# GPU busy: nvidia-smi's utilization.gpu (the share of time a kernel ran),
# sampled every 100 ms with timestamps, averaged over the steady training only
# (scripts/gpu/busy.py: from the end of the first epoch to the end of the last).
smi_start() { nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits -lms 100 >"$1" 2>/dev/null & }
# driftrun three ways: the CUDA graph (train.cuda_graph = auto, the default),
# the hand-written step launched kernel by kernel (off), and autograd.
drift_run() {  # tag, DRIFTRUN_AUTOGRAD_STEP value, extra train flags...
  local tag=$1 autograd=$2; shift 2
  smi_start "$OUT/util-$tag.log"
  local smi=$!
  DRIFTRUN_AUTOGRAD_STEP=$autograd ./build-gpu/driftrun train --config "$W/gpu.toml" --run-dir "$W/run-$tag" \
    --quiet --noprogress "$@" \
    >"$OUT/bench_driftrun-$tag.log" 2>&1
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  echo "$($PY -c "import json; print(round(json.load(open('$W/run-$tag/summary.json'))['samples_per_s']))" 2>/dev/null || echo 0) $($PY scripts/gpu/busy.py "$OUT/util-$tag.log" --run "$W/run-$tag" | cut -d' ' -f1)"
}
read -r d d_busy < <(drift_run graph 0)
read -r d_eager d_eager_busy < <(drift_run eager 0 --set 'train.cuda_graph="off"')
read -r d_np d_np_busy < <(DRIFTRUN_STEP_PIPELINE=0 drift_run nopipe 0)
read -r d_ag d_ag_busy < <(drift_run autograd 1 --set 'train.cuda_graph="off"')
torch_run() {  # tag, extra flags...
  local tag=$1; shift
  smi_start "$OUT/util-torch-$tag.log"
  local smi=$!
  $PY scripts/gpu/torch_mlp.py --data "$W/data/train.h5" --hidden 512,512 --batch 4096 --epochs $EPOCHS "$@" \
    2>"$OUT/bench_torch-$tag.log" | tail -1 >"$OUT/torch-$tag.json"
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  local sps window
  sps=$($PY -c "import json,sys; print(round(json.load(open(sys.argv[1]))['samples_per_s']))" "$OUT/torch-$tag.json" 2>/dev/null || echo 0)
  window=$($PY -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['t_steady'], j['t_end'])" "$OUT/torch-$tag.json" 2>/dev/null || echo "0 0")
  echo "$sps $($PY scripts/gpu/busy.py "$OUT/util-torch-$tag.log" --window $window | cut -d' ' -f1)"
}
read -r t t_busy < <(torch_run eager)
read -r tc tc_busy < <(torch_run compile --compile)
read -r tn tn_busy < <(torch_run noitem --no-item)
cp "$W/run-graph/summary.json" "$OUT/bench_summary.json" 2>/dev/null

# Model kinds on the GPU: the digits CNN (cuDNN) and the ticket text model
# (n-gram hashing on the GPU), trained on CUDA; predictions on CUDA and CPU.
# (No ONNX here: driftrun-export needs libonnx, which this machine lacks.)
$PY scripts/data/digits_to_h5.py --out "$W/digits" >/dev/null && $PY scripts/data/make_tickets.py --out "$W/tickets" >/dev/null
kinds() {
  local name=$1 kind=$2 data=$3 extra=$4
  printf 'name = "%s"\n[data]\ntrain = "%s/train.h5"\n[model]\nkind = "%s"\ntask = "classification"\n%s\n[train]\ndevice = "cuda"\nepochs = %s\nbatch_size = %s\nlr = %s\n[export]\nonnx = false\n' \
    "$name" "$data" "$kind" "$extra" "$5" "$6" "$7" >"$W/$name.toml"
  ./build-gpu/driftrun train --config "$W/$name.toml" --run-dir "$W/$name" --quiet --noprogress >>"$OUT/kinds.log" 2>&1 || { echo "$name: train failed"; return; }
  for dev in cuda cpu; do
    ./build-gpu/driftrun predict --run "$W/$name" --in "$data/test.h5" --out "$W/$name-$dev.h5" --device $dev --json >>"$OUT/kinds.log" 2>&1
  done
  $PY - "$W/$name" "$data/test.h5" <<'PY'
import h5py, json, numpy as np, sys
run, test = sys.argv[1], sys.argv[2]
y = h5py.File(test)["labels"][()]
g, c = (h5py.File(f"{run}-{d}.h5") for d in ("cuda", "cpu"))
s = json.load(open(f"{run}/summary.json"))
print(f"{run.split('/')[-1]:8} trained on {s['device']}: test accuracy cuda {np.mean(g['label'][()] == y):.4f}, "
      f"cpu {np.mean(c['label'][()] == y):.4f}; max |p_cuda - p_cpu| {np.abs(g['prediction'][()] - c['prediction'][()]).max():.2e}; "
      f"{s['samples_per_s']:.0f} samples/s")
PY
}
kinds digits cnn "$W/digits" 'channels = [16, 32]
hidden = [64]' 25 32 2e-3 2>&1 | tee "$OUT/kinds.txt"
kinds tickets text "$W/tickets" 'hidden = []
embedding_dim = 32' 6 64 1e-2 2>&1 | tee -a "$OUT/kinds.txt"
# The pool executor with a kept NCCL communicator per group (issue 13).
timeout 240 $PY scripts/gpu/pool_gpu.py ./build-gpu/driftrun "$W/data/train.h5" "$W/pool" 2>&1 | tail -1 | tee "$OUT/pool.txt"
echo
echo "== driftrun GPU check ($(head -1 "$OUT/gpu.txt")) =="
printf '%-44s %s\n' "GPU tests (Gpu.*)" "$([[ $tests_rc == 0 ]] && grep -c '^\[       OK' "$OUT/gpu_tests.log" | sed 's/$/ passed/' || echo FAILED)"
grep -h "cuda vs cpu" "$OUT/gpu_tests.log" | sed 's/^/  /'
grep -h "^gpu" "$OUT/kernels_bench.log" | sed 's/^/  /'
sed 's/^/  /' "$OUT/kinds.txt"
sed 's/^/  /' "$OUT/pool.txt"
printf '%-52s %12s %9s\n' "MLP 32-512-512-1, batch 4096, AdamW" "samples/s" "GPU busy"
printf '%-52s %12s %8s%%\n' "driftrun, CUDA graph (train.cuda_graph = auto)" "$d" "$d_busy"
printf '%-52s %12s %8s%%\n' "driftrun, CUDA graph, loss read before next step" "$d_np" "$d_np_busy"
printf '%-52s %12s %8s%%\n' "driftrun, hand-written step, eager (off)" "$d_eager" "$d_eager_busy"
printf '%-52s %12s %8s%%\n' "driftrun, autograd (DRIFTRUN_AUTOGRAD_STEP=1)" "$d_ag" "$d_ag_busy"
printf '%-52s %12s %8s%%\n' "PyTorch eager (Python), same GPU" "$t" "$t_busy"
printf '%-52s %12s %8s%%\n' "PyTorch torch.compile(mode=reduce-overhead)" "$tc" "$tc_busy"
printf '%-52s %12s %8s%%\n' "PyTorch eager, loss not read each step" "$tn" "$tn_busy"
$PY -c "import json; s=json.load(open('$OUT/bench_summary.json')); print('driftrun (graph) step_ms:', s['step_ms'], 'step_kind', s['step_kind'])" 2>/dev/null
$PY -c "d,t,tc=$d,$t,$tc; print(f'ratio driftrun (graph) / PyTorch eager: {d/t:.2f}x (target >= 2x); / torch.compile: ' + (f'{d/tc:.2f}x' if tc else 'n/a') if t else 'ratio: n/a')"
# Every log in one file (the device tool brings back at most 8 files).
cp "$W/pool/pool.log" "$OUT/pool.log" 2>/dev/null
for j in "$W"/pool/state/jobs/*/run; do [[ -f $j/events.jsonl ]] && cp "$j/events.jsonl" "$OUT/pool-job-$(basename "$(dirname "$j")")-events.jsonl"; done
(cd "$OUT" && tar czf logs.tgz --exclude logs.tgz --exclude bench_summary.json . && find . -type f ! -name logs.tgz ! -name bench_summary.json -delete)
exit $tests_rc
