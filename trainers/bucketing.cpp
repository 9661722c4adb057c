#include "trainers/bucketing.h"

namespace driftrun {

std::vector<std::vector<size_t>> AssignBuckets(const std::vector<size_t>& param_bytes, size_t cap_bytes) {
  std::vector<std::vector<size_t>> buckets;
  std::vector<size_t> cur;
  size_t cur_bytes = 0;
  for (size_t k = param_bytes.size(); k-- > 0;) {
    // A parameter of at least the cap gets a bucket of its own: close the
    // smaller ones gathered before it, so their all-reduce need not wait for it.
    if (param_bytes[k] >= cap_bytes && !cur.empty()) {
      buckets.push_back(std::move(cur));
      cur.clear();
      cur_bytes = 0;
    }
    cur.push_back(k);
    cur_bytes += param_bytes[k];
    if (cur_bytes >= cap_bytes) {
      buckets.push_back(std::move(cur));
      cur.clear();
      cur_bytes = 0;
    }
  }
  if (!cur.empty()) buckets.push_back(std::move(cur));
  return buckets;
}

}  // namespace driftrun
