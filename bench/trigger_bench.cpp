// Trigger policy decisions against a large journal (issue 12's benchmark):
// `models` models with `rows` batches in all (most consumed by earlier
// triggers, the newest few pending), then one decision per model: the
// journal's view of the model (Journal::State) and DecideTrigger. Prints the
// time per decision against the 1 ms target.
//   build/trigger_bench [models=1000] [rows=1000000] [folder=/tmp]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "common/file_util.h"
#include "scheduler/journal.h"
#include "scheduler/trigger_policy.h"

using driftrun::BatchRecord;
using driftrun::Journal;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int Fail(const driftrun::Status& st) {
  std::fprintf(stderr, "trigger_bench: %s\n", st.message().c_str());
  return 1;
}

}  // namespace

static int Run(int argc, char** argv) {
  const int64_t models = argc > 1 ? std::atoll(argv[1]) : 1000;
  const int64_t rows = argc > 2 ? std::atoll(argv[2]) : 1000000;
  if (models < 1 || rows < models) {
    std::fprintf(stderr, "usage: trigger_bench [models >= 1] [rows >= models] [folder]\n");
    return 2;
  }
  const std::string dir = std::string(argc > 3 ? argv[3] : "/tmp") + "/driftrun-trigger-bench";
  driftrun::RemoveTree(dir);
  if (auto st = driftrun::MakeDirs(dir); !st.ok()) return Fail(st);
  auto j = Journal::Open(dir + "/journal.db", true);
  if (!j.ok()) return Fail(j.status());
  Journal& jr = *j.value();
  const double t0 = Now(), wall = 1.8e9;
  {
    auto txn = jr.Begin();
    if (!txn.ok()) return Fail(txn.status());
    const int64_t per_model = rows / models;
    for (int64_t m = 0; m < models; ++m) {
      BatchRecord b;
      b.model = "model-" + std::to_string(m);
      b.decision = "scored";
      for (int64_t k = 0; k < per_model; ++k) {
        b.file = "batch-" + std::to_string(k) + ".h5";
        b.sha256 = b.file;
        b.rows = 500;
        b.drifted = (k * 7 + m) % 5 == 0;
        b.scored_at = wall + static_cast<double>(k);
        auto id = jr.AddBatch(b);
        if (!id.ok()) return Fail(id.status());
      }
      // All but the newest 3 were consumed by a trigger long ago.
      driftrun::TriggerRecord t;
      t.model = b.model;
      t.kind = "drift";
      t.action = "queue";
      t.at = wall;
      auto tid = jr.AddTrigger(t, jr.Batches(b.model, 4).value().back().id);
      if (!tid.ok()) return Fail(tid.status());
    }
    if (auto st = txn.value().Commit(); !st.ok()) return Fail(st);
  }
  const double filled = Now() - t0;
  driftrun::TriggerOptions o;
  o.consecutive = 2;
  o.of = 3;
  int64_t queued = 0;
  const double t1 = Now();
  for (int64_t m = 0; m < models; ++m) {
    auto state = jr.State("model-" + std::to_string(m), o.min_rows, o.window(), wall + 1e6);
    if (!state.ok()) return Fail(state.status());
    queued += driftrun::DecideTrigger(o, state.value(), driftrun::TriggerKind::kDrift, wall + 1e6).action ==
              driftrun::TriggerAction::kQueue;
  }
  const double per = (Now() - t1) / static_cast<double>(models);
  const int64_t total = models * (rows / models);
  std::printf("journal: %lld models, %lld batch rows (filled in %.1f s)\n", static_cast<long long>(models),
              static_cast<long long>(total), filled);
  std::printf(
      "decision (journal view + policy): %.1f us each, %.0f decisions/s, %.1fx under the 1 ms target "
      "(%lld would queue)\n",
      per * 1e6, 1 / per, 1e-3 / per, static_cast<long long>(queued));
  driftrun::RemoveTree(dir);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trigger_bench: %s\n", e.what());
    return 1;
  }
}
