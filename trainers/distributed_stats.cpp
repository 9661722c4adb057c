#include "trainers/distributed_stats.h"

#include "comm/collectives.h"

namespace driftrun {

Status AllReduceMoments(Communicator& comm, std::vector<kmath::Moments>* m) {
  if (comm.size() == 1) return Status::Ok();
  const size_t d = m->size();
  std::vector<double> sums(3 * d), mins(d), maxs(d);
  for (size_t j = 0; j < d; ++j) {
    sums[j] = (*m)[j].n;
    sums[d + j] = (*m)[j].n * (*m)[j].mean;
    sums[2 * d + j] = (*m)[j].nonfinite;
    mins[j] = (*m)[j].min;
    maxs[j] = (*m)[j].max;
  }
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &sums));
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &mins, ReduceOp::kMin));
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &maxs, ReduceOp::kMax));
  std::vector<double> m2(d);
  std::vector<double> mean(d, 0.0);
  for (size_t j = 0; j < d; ++j) {
    if (sums[j] > 0) mean[j] = sums[d + j] / sums[j];
    const kmath::Moments& mine = (*m)[j];
    m2[j] = mine.n > 0 ? mine.m2 + mine.n * (mine.mean - mean[j]) * (mine.mean - mean[j]) : 0.0;
  }
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &m2));
  for (size_t j = 0; j < d; ++j) {
    kmath::Moments& out = (*m)[j];
    out.n = sums[j];
    out.mean = mean[j];
    out.m2 = m2[j];
    out.nonfinite = sums[2 * d + j];
    out.min = mins[j];
    out.max = maxs[j];
  }
  return Status::Ok();
}

Status AllReduceCounts(Communicator& comm, at::Tensor* counts) {
  if (comm.size() == 1) return Status::Ok();
  *counts = counts->cpu().contiguous();
  return comm.AllReduce(counts->data_ptr<int64_t>(), static_cast<size_t>(counts->numel()), DType::kInt64,
                        ReduceOp::kSum);
}

}  // namespace driftrun
