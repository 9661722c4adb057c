// allreduce_bench: the gradient reducer's all-reduce bandwidth against a raw
// MPI_Allreduce of the same bytes, in the same run (BENCHMARKS.md).
//
//   mpirun -np 2 ./build/allreduce_bench [REPS]
//
// For each gradient size (the bench MLP's 75k parameters, 1M, 16M), the reducer
// runs Prepare() + Finish() over a FlatParams of that size with the default
// 25 MB buckets (every bucket launched, then waited for: the path a step takes
// after backward), and MPI_Allreduce(MPI_IN_PLACE) reduces the same flat float
// buffer in one blocking call. The two alternate, REPS rounds each, after a
// barrier; the median round counts. Bandwidth is bytes / time (algorithm
// bandwidth); rank 0 prints a table and the ratio (target >= 0.9).
#include <mpi.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "comm/mpi_communicator.h"
#include "trainers/flat_params.h"
#include "trainers/grad_reducer.h"

namespace driftrun {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Parameters shaped like an MLP with `width`-wide hidden layers on 32 inputs.
NamedTensors MlpParams(int64_t width) {
  NamedTensors p;
  p.emplace_back("l0.weight", torch::zeros({width, 32}).requires_grad_());
  p.emplace_back("l0.bias", torch::zeros({width}).requires_grad_());
  p.emplace_back("l1.weight", torch::zeros({width, width}).requires_grad_());
  p.emplace_back("l1.bias", torch::zeros({width}).requires_grad_());
  p.emplace_back("l2.weight", torch::zeros({1, width}).requires_grad_());
  p.emplace_back("l2.bias", torch::zeros({1}).requires_grad_());
  return p;
}

int Run(int reps) {
  auto comm_or = MpiCommunicator::Create(MPI_COMM_WORLD);
  if (!comm_or.ok()) {
    std::fprintf(stderr, "%s\n", comm_or.status().message().c_str());
    return 1;
  }
  MpiCommunicator& comm = *comm_or.value();
  const bool root = comm.rank() == 0;
  if (root) {
    std::printf("%d ranks, %d rounds each, median round\n", comm.size(), reps);
    std::printf("%-12s %10s %8s %14s %14s %7s\n", "parameters", "MB", "buckets", "reducer GB/s", "MPI GB/s",
                "ratio");
  }
  for (int64_t width : {256, 1000, 4000}) {
    NamedTensors params = MlpParams(width);
    FlatParams flat = FlatParams::Make(params).value();
    GradReducer reducer(comm, &flat, size_t{25} << 20);
    float* buf = flat.grad().data_ptr<float>();
    const int64_t n = flat.numel();
    std::vector<double> t_reducer, t_mpi;
    for (int r = 0; r < reps + 2; ++r) {  // two warm-up rounds
      flat.grad().fill_(1.0f);
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = Now();
      reducer.Prepare();
      if (!reducer.Finish().ok()) return 1;
      double t1 = Now();
      flat.grad().fill_(1.0f);
      MPI_Barrier(MPI_COMM_WORLD);
      double t2 = Now();
      MPI_Allreduce(MPI_IN_PLACE, buf, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      double t3 = Now();
      if (r < 2) continue;
      t_reducer.push_back(t1 - t0);
      t_mpi.push_back(t3 - t2);
    }
    const double bytes = static_cast<double>(n) * sizeof(float);
    const double bw_red = bytes / Median(t_reducer) / 1e9, bw_mpi = bytes / Median(t_mpi) / 1e9;
    if (root) {
      std::printf("%-12lld %10.2f %8zu %14.2f %14.2f %6.2fx\n", static_cast<long long>(n), bytes / 1e6,
                  reducer.buckets().size(), bw_red, bw_mpi, bw_red / bw_mpi);
    }
  }
  return 0;
}

}  // namespace
}  // namespace driftrun

int main(int argc, char** argv) {
  // As driftrun runs (comm/mpi_communicator.h); DRIFTRUN_BENCH_LIBNBC_DEFAULT=1
  // leaves Open MPI's own choice, for the comparison in BENCHMARKS.md.
  if (!std::getenv("DRIFTRUN_BENCH_LIBNBC_DEFAULT")) driftrun::SetMpiDefaults();
  MPI_Init(&argc, &argv);
  torch::set_num_threads(1);
  const int reps = argc > 1 ? std::atoi(argv[1]) : 50;
  const int rc = driftrun::Run(reps > 0 ? reps : 50);
  MPI_Finalize();
  return rc;
}
