// What a run reports about itself (run_outputs.h).
#include "trainers/run_outputs.h"

#include "common/guard.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "comm/collectives.h"
#include "common/file_util.h"
#include "common/text.h"

namespace driftrun {
namespace {

// How the training step runs: "cuda_graph" (cuda_graph.h), "direct" (the
// hand-written MLP backward, direct_mlp.h) or "autograd".
std::string StepKind(const Session& s) {
#ifdef DRIFTRUN_WITH_CUDA
  if (s.graph) return "cuda_graph";
#endif
  return s.direct ? "direct" : "autograd";
}

// How gradients meet: "shared_memory" (shared_step.h), "allreduce" or "none" (one rank).
std::string GradSync(const Session& s) {
  if (s.shared) return "shared_memory";
  return s.reducer ? "allreduce" : "none";
}

// For the console's start line: the backend, and how gradients meet with
// several ranks ("mpi, shared memory"; "mpi, all-reduce: <why not shared>").
std::string GradSyncLabel(const Session& s) {
  std::string out = s.grad_comm->name();
  if (s.shared) return out + ", shared memory";
  if (s.reducer && !s.shared_note.empty()) return out + ", " + s.shared_note;
  return out;
}

// Steps replayed from the CUDA graph (the rest ran eagerly).
int64_t GraphReplays(const Session& s) {
#ifdef DRIFTRUN_WITH_CUDA
  if (s.graph) return s.graph->replays();
#endif
  (void)s;
  return 0;
}

}  // namespace

void ReportStart(TrainReporter& rep, const Session& s, const TrainRequest& req, const std::string& run_dir,
                 const std::string& ckpt_path, const LoopPosition& at) {
  const bool resuming = !ckpt_path.empty();
  const int W = s.world->size();
  nlohmann::json fields = {{"world_size", W},
                           {"data",
                            {{"mode", s.streamer ? "stream" : "memory"},
                             {"memory_mb", s.memory_mb},
                             {"bytes", s.data_bytes},
                             {"window_rows", s.stream.window_rows()},
                             {"warnings", s.data_warnings}}},
                           {"device", s.device.str()},
                           {"step_kind", StepKind(s)},
                           {"step_pipelined", StepPipelined(s)},
                           {"grad_sync", GradSync(s)},
                           {"grad_sync_note", s.shared_note},
                           {"backend", s.grad_comm->name()},
                           {"checkpoint", ckpt_path},
                           {"step", at.step},
                           {"epoch", at.next_batch > 0 ? at.epoch + 1 : at.epoch},  // as checkpoints say
                           {"train_rows", s.train_rows.size()},
                           {"val_rows", s.val_count},
                           {"features", s.meta.dim},
                           {"config", req.config_path},
                           {"code_version", req.code_version},
                           {"pid", static_cast<int64_t>(::getpid())},
                           {"preprocess_notes", s.fit.pre.notes}};
  char line[1024];
  std::snprintf(line, sizeof(line),
                "%s %s: %lld train rows, %lld val rows, %lld features, %d rank(s) on %s (%s), run folder %s",
                resuming ? "resuming" : "training", s.o.name.c_str(),
                static_cast<long long>(s.train_rows.size()), static_cast<long long>(s.val_count),
                static_cast<long long>(s.meta.dim), W, s.device.str().c_str(), GradSyncLabel(s).c_str(),
                EscapeForConsole(run_dir).c_str());
  rep.Start(resuming, fields, line, ckpt_path, at.step);
  if (s.world->rank() == 0 && req.on_start) req.on_start(run_dir, resuming);
  if (s.world->rank() == 0)
    for (const auto& w : s.data_warnings) std::cerr << "warning: " << w << "\n";
}

// Collective. Sums the ranks' imputed and clipped counts into every rank's.
Status ReducePreCounts(Session& s) {
  Session::PreCounts& c = s.pre_counts;
  const size_t dim = static_cast<size_t>(s.meta.dim);
  c.imputed.resize(dim, 0);
  c.clipped.resize(dim, 0);
  std::vector<int64_t> v = {c.rows};
  v.insert(v.end(), c.imputed.begin(), c.imputed.end());
  v.insert(v.end(), c.clipped.begin(), c.clipped.end());
  DRIFTRUN_RETURN_IF_ERROR(s.world->AllReduce(v.data(), v.size(), DType::kInt64, ReduceOp::kSum));
  c.rows = v[0];
  std::copy(v.begin() + 1, v.begin() + 1 + dim, c.imputed.begin());
  std::copy(v.begin() + 1 + dim, v.end(), c.clipped.begin());
  return Status::Ok();
}

// summary.json "preprocess": the rows counted and, per column that had any,
// the values imputed and clipped.
static nlohmann::json PreprocessCounts(const Session& s) {
  const Session::PreCounts& c = s.pre_counts;
  nlohmann::json imputed = nlohmann::json::object(), clipped = nlohmann::json::object();
  for (size_t j = 0; j < c.imputed.size(); ++j) {
    const std::string name =
        j < s.meta.feature_names.size() ? s.meta.feature_names[j] : "f" + std::to_string(j);
    if (c.imputed[j] > 0) imputed[name] = c.imputed[j];
    if (j < c.clipped.size() && c.clipped[j] > 0) clipped[name] = c.clipped[j];
  }
  return {{"rows", c.rows}, {"imputed", imputed}, {"clipped", clipped}};
}
// The files the run read, with their identity when opened (FileIdentity's
// form): the lineage and the service's evaluation check them against the
// path's file now, so that bytes the run never read are never named as its data.
static nlohmann::json DataFiles(const Session& s) {
  nlohmann::json files = nlohmann::json::array();
  const auto add = [&](const TabularSet& set) {
    for (const auto& [path, identity] : set.Identities())
      files.push_back({{"path", path}, {"identity", identity}});
  };
  add(*s.train_set);
  if (s.val_set) add(*s.val_set);
  return files;
}

static nlohmann::json Summary(const Session& s, const TrainRequest& req, const LoopState& st,
                              const TrainResult& r, const std::string& config_hash, double wall) {
  return {{"name", s.o.name},
          {"status", "done"},
          {"steps", st.at.step},
          {"epochs", st.at.epoch},
          {"val_loss", JsonNumberOrNull(st.last_eval.loss)},
          {"val_metric", JsonNumberOrNull(st.last_eval.metric)},
          {"val_metric_name", s.o.train.classification ? "accuracy" : "rmse"},
          {"world_size", s.world->size()},
          {"seed", s.o.seed},
          {"wall_s", wall},
          // This process's steps only: a resumed run's earlier steps took other time.
          {"samples_per_s",
           st.steps_run > 0 ? nlohmann::json(st.steps_run * s.o.batch_size / std::max(1e-9, st.train_seconds))
                            : nlohmann::json()},
          {"step_ms", st.steps_run > 0 ? StepMsJson(StepMs(st.step_times, st.steps_run, st.train_seconds))
                                       : nlohmann::json()},
          {"data",
           {{"mode", s.streamer ? "stream" : "memory"},
            {"memory_mb", s.memory_mb},
            {"bytes", s.data_bytes},
            {"window_rows", s.stream.window_rows()},
            {"files", DataFiles(s)}}},
          {"device", s.device.str()},
          {"step_kind", StepKind(s)},
          {"step_pipelined", StepPipelined(s)},
          {"grad_sync", GradSync(s)},
          {"graph_replays", GraphReplays(s)},
          {"backend", s.grad_comm->name()},
          {"checkpoint", r.last_checkpoint},
          {"config_hash", config_hash},
          {"replica_checks", st.replica_checks},
          {"code_version", req.code_version},
          {"train_rows", s.train_rows.size()},
          {"val_rows", s.val_count},
          {"preprocess", PreprocessCounts(s)}};
}

TrainReporter MakeReporter(const Session& s, const TrainRequest& req, const std::string& run_dir,
                           const Clock& clock) {
  TrainReporterOptions ro;
  ro.rank = s.world->rank();
  ro.quiet = req.quiet;
  ro.progress_bar = req.progress_bar;
  ro.log_every_steps = s.o.log_every_steps;
  ro.clock = &clock;
  ro.on_epoch = req.on_epoch;
  return TrainReporter(RunLog(run_dir, ro.rank == 0), ro);
}

// Collective. The stop message with the command to resume, or the summary and
// the done line.
Status ReportEnd(TrainReporter& rep, const Session& s, const TrainRequest& req, const LoopState& st,
                 const TrainResult& result, const std::string& config_hash, double wall) {
  if (st.stopped) {
    rep.Stopped(st.at.step, result.last_checkpoint,
                !req.resume_command.empty()
                    ? req.resume_command
                    : (req.command.empty() ? "driftrun train --config " + req.config_path : req.command) +
                          " --run-dir " + ShellQuote(result.run_dir) + " --resume auto");
    return Status::Ok();
  }
  DRIFTRUN_RETURN_IF_ERROR(
      AgreeStatus(*s.world, rep.log().Summary(Summary(s, req, st, result, config_hash, wall))));
  rep.Done(st.at.step, wall, result.run_dir);
  return Status::Ok();
}

}  // namespace driftrun
