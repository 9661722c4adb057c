// Placement: which worker ranks a pool job gets (scheduler/pool_executor.h).
//
// All or nothing: a job gets exactly the ranks it asks for, or none now. It
// prefers one node: the node with the fewest free ranks that still fits the
// whole job (best fit, so large holes stay for large jobs); a job no single
// node fits is spread over the nodes with the most free ranks. Ranks are taken
// lowest first within a node, so the same free pool gives the same group (and
// the group communicator kept for it is reused).
//
// Cost: O(log nodes + k log ranks) for a job of k ranks, O(k log ranks) to
// release; nothing scans every rank or node (scripts/bench/placement.py).
//
// Thread-safety: none (the pool executor holds its lock around it).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace driftrun {

class Placement {
 public:
  // node_of[i]: the node (any id) of rank ranks[i]. Every rank starts free.
  Placement(const std::vector<int>& ranks, const std::vector<int>& node_of);

  // `n` free ranks (ascending), taken; nullopt when fewer than n are free.
  std::optional<std::vector<int>> Take(int n);
  // Gives ranks taken earlier back (unknown or free ranks are ignored).
  void Release(const std::vector<int>& ranks);

  int size() const { return size_; }
  int free() const { return free_; }
  // Whether all of `ranks` are on one node.
  bool OneNode(const std::vector<int>& ranks) const;

 private:
  void SetFree(int node, int before, int after);
  std::map<int, std::set<int>> free_by_node_;    // node → its free ranks
  std::set<std::pair<int, int>> nodes_by_free_;  // (free count, node), nodes with a free rank
  std::map<int, int> node_of_;                   // rank → node
  int size_ = 0, free_ = 0;
};

}  // namespace driftrun
