// Gradient bucket assignment, as in DDP: parameters in reverse registration order
// (the order backward produces their gradients), packed into buckets that close
// once they hold `cap_bytes`. A parameter of `cap_bytes` or more gets a bucket of
// its own (the smaller ones gathered before it close first, so their all-reduce
// need not wait for it); that bucket and the last may hold less than the cap. Pure logic, unit-tested without
// tensors.
#pragma once

#include <cstddef>
#include <vector>

namespace driftrun {

// Returns, per bucket, the parameter indices it holds (in reverse order).
std::vector<std::vector<size_t>> AssignBuckets(const std::vector<size_t>& param_bytes, size_t cap_bytes);

}  // namespace driftrun
