// The pool scheduler's decisions at scale (issue 13's benchmark), pure code:
//   placement  Placement::Take + Release under churn on 1,000 / 10,000 /
//              100,000 worker ranks (8 per node; jobs of 1..16 ranks), per
//              decision;
//   queue      the service's queue head (Journal::QueuedJobs: the highest
//              priority, oldest queued job, from an index) with 1,000 /
//              10,000 / 100,000 queued jobs, per decision; beside it, reading
//              the whole queue (what an O(n) scheduler would do).
// Prints microseconds per decision against the 1 ms target, and the growth.
//   build/placement_bench [folder=/tmp]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "scheduler/journal.h"
#include "scheduler/placement.h"

using driftrun::JobRecord;
using driftrun::Journal;
using driftrun::Placement;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double PlacementUs(int ranks) {
  std::vector<int> r, node;
  for (int i = 1; i <= ranks; ++i) {
    r.push_back(i);
    node.push_back((i - 1) / 8);
  }
  Placement p(r, node);
  std::mt19937 rng(7);
  std::deque<std::vector<int>> held;
  // Fill to about 90% first, then churn: each decision takes one job and,
  // when it does not fit, releases the oldest.
  while (p.free() > ranks / 10) held.push_back(*p.Take(1 + static_cast<int>(rng() % 16)));
  const int n = 200000;
  const double t0 = Now();
  for (int i = 0; i < n; ++i) {
    auto g = p.Take(1 + static_cast<int>(rng() % 16));
    if (g) {
      held.push_back(std::move(*g));
    }
    if (!g || held.size() > static_cast<size_t>(ranks / 9)) {
      p.Release(held.front());
      held.pop_front();
    }
  }
  return (Now() - t0) / n * 1e6;
}

int Fail(const driftrun::Status& st) {
  std::fprintf(stderr, "placement_bench: %s\n", st.message().c_str());
  return 1;
}

}  // namespace

static int Run(int argc, char** argv) {
  std::printf("placement: Take+Release under churn, 8 ranks per node, jobs of 1..16 ranks\n");
  std::printf("  %8s %14s\n", "ranks", "us/decision");
  for (int ranks : {1000, 10000, 100000}) std::printf("  %8d %14.3f\n", ranks, PlacementUs(ranks));

  const std::string dir = std::string(argc > 1 ? argv[1] : "/tmp") + "/driftrun-placement-bench";
  driftrun::RemoveTree(dir);
  if (auto st = driftrun::MakeDirs(dir); !st.ok()) return Fail(st);
  std::printf("queue: the head of the journal's queue (QueuedJobs(1)) vs reading every queued job\n");
  std::printf("  %8s %14s %18s\n", "queued", "us/decision", "us/full read");
  int64_t have = 0;
  auto jn = Journal::Open(dir + "/journal.db", true);
  if (!jn.ok()) return Fail(jn.status());
  for (int64_t queued : {1000, 10000, 100000}) {
    auto txn = jn.value()->Begin();
    if (!txn.ok()) return Fail(txn.status());
    for (; have < queued; ++have) {
      JobRecord j;
      j.model = "m" + std::to_string(have % 1000);
      j.priority = have % 5;
      j.queued_at = static_cast<double>(have);
      j.trigger = "drift";
      if (auto id = jn.value()->AddJob(j); !id.ok()) return Fail(id.status());
    }
    if (auto st = txn.value().Commit(); !st.ok()) return Fail(st);
    const int reps = 2000;
    double t0 = Now();
    for (int i = 0; i < reps; ++i) {
      auto head = jn.value()->QueuedJobs(1);
      if (!head.ok() || head.value().size() != 1) return Fail(head.status());
    }
    const double head_us = (Now() - t0) / reps * 1e6;
    t0 = Now();
    auto all = jn.value()->JobsIn(driftrun::JobState::kQueued);
    if (!all.ok()) return Fail(all.status());
    std::printf("  %8lld %14.3f %18.0f\n", static_cast<long long>(queued), head_us, (Now() - t0) * 1e6);
  }
  driftrun::RemoveTree(dir);
  std::printf("target: < 1000 us per decision\n");
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "placement_bench: %s\n", e.what());
    return 1;
  }
}
