// Exact merges of the kernels' partial results across ranks.
//
// AllReduceMoments: Chan's merge done with two all-reduces: (count, count x
// mean, min, max, non-finite) first, then each rank's M2 + n (mean - global
// mean)^2, whose sum is the global M2. Collective; every rank gets the result.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "comm/communicator.h"
#include "common/status.h"
#include "kernels/kernel_math.h"

namespace driftrun {

Status AllReduceMoments(Communicator& comm, std::vector<kmath::Moments>* m);
// Sums an int64 CPU tensor (histogram counts) across ranks, in place.
Status AllReduceCounts(Communicator& comm, at::Tensor* counts);

}  // namespace driftrun
