// Gradient bucket assignment, as in DDP: parameters in reverse registration order
// (the order backward produces their gradients), packed into buckets of at least
// `cap_bytes` (the last may be smaller; a parameter larger than the cap gets a
// bucket of its own). Pure logic, unit-tested without tensors.
#pragma once

#include <cstddef>
#include <vector>

namespace driftrun {

// Returns, per bucket, the parameter indices it holds (in reverse order).
std::vector<std::vector<size_t>> AssignBuckets(const std::vector<size_t>& param_bytes, size_t cap_bytes);

}  // namespace driftrun
