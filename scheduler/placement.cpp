#include "scheduler/placement.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace driftrun {

Placement::Placement(const std::vector<int>& ranks, const std::vector<int>& node_of) {
  for (size_t i = 0; i < ranks.size(); ++i) {
    const int node = i < node_of.size() ? node_of[i] : 0;
    if (!node_of_.emplace(ranks[i], node).second) continue;
    free_by_node_[node].insert(ranks[i]);
    ++size_;
  }
  free_ = size_;
  for (const auto& [node, free] : free_by_node_) nodes_by_free_.insert({static_cast<int>(free.size()), node});
}

void Placement::SetFree(int node, int before, int after) {
  if (before > 0) nodes_by_free_.erase({before, node});
  if (after > 0) nodes_by_free_.insert({after, node});
}

std::optional<std::vector<int>> Placement::Take(int n) {
  if (n <= 0 || n > free_) return std::nullopt;
  std::vector<int> got;
  got.reserve(static_cast<size_t>(n));
  auto take_from = [&](int node, int k) {
    std::set<int>& free = free_by_node_[node];
    const int before = static_cast<int>(free.size());
    for (int i = 0; i < k; ++i) {
      got.push_back(*free.begin());
      free.erase(free.begin());
    }
    SetFree(node, before, before - k);
  };
  // Best fit: the node with the fewest free ranks that holds the whole job.
  auto fit = nodes_by_free_.lower_bound({n, std::numeric_limits<int>::min()});
  if (fit != nodes_by_free_.end()) {
    take_from(fit->second, n);
  } else {
    // Spread: the nodes with the most free ranks first (fewest nodes).
    while (static_cast<int>(got.size()) < n) {
      const auto last = std::prev(nodes_by_free_.end());
      take_from(last->second, std::min(last->first, n - static_cast<int>(got.size())));
    }
  }
  free_ -= n;
  std::sort(got.begin(), got.end());
  return got;
}

void Placement::Release(const std::vector<int>& ranks) {
  for (int r : ranks) {
    auto it = node_of_.find(r);
    if (it == node_of_.end()) continue;
    std::set<int>& free = free_by_node_[it->second];
    const int before = static_cast<int>(free.size());
    if (!free.insert(r).second) continue;
    SetFree(it->second, before, before + 1);
    ++free_;
  }
}

bool Placement::OneNode(const std::vector<int>& ranks) const {
  std::set<int> nodes;
  for (int r : ranks) {
    auto it = node_of_.find(r);
    nodes.insert(it == node_of_.end() ? -1 : it->second);
  }
  return nodes.size() <= 1;
}

}  // namespace driftrun
