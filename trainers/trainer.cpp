// Train(): the order of a training run; each part lives in its own file
// (train_session.h lists them).
#include "trainers/trainer.h"

#include "common/guard.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>

#include "comm/collectives.h"
#include "common/file_util.h"
#include "common/text.h"
#include "trainers/resume.h"
#include "trainers/run_outputs.h"
#include "trainers/step_loop.h"
#include "trainers/train_reporter.h"
#include "trainers/train_session.h"

namespace driftrun {
namespace {

// A new run's id (16 hex digits): its checkpoints carry it, so pruning never
// touches another run's.
std::string NewRunId() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Rank 0 decides the run folder and resume point; every rank learns them.
Status ChooseRunFolder(Communicator& world, const TrainRequest& req, const std::string& name,
                       RunFolderClaim* claim, std::string* run_dir, std::string* ckpt_path, bool* overwrite) {
  Status local;
  if (world.rank() == 0) {
    RunFolderChoice c;
    local = ClaimRunFolder(req.run_dir, req.resume, name, req.overwrite, &c, claim);
    for (const auto& w : c.warnings) std::cerr << "warning: " << w << "\n";
    *run_dir = c.run_dir;
    *ckpt_path = c.checkpoint;
    *overwrite = c.overwrite;
  }
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, local));
  DRIFTRUN_RETURN_IF_ERROR(BroadcastString(world, run_dir));
  return BroadcastString(world, ckpt_path);
}

// Collective. A resumed run continues under its own config: rank 0 compares
// the given one with the run's config.resolved.toml. *changes lists the keys
// that differ (allowed only with req.allow_config_change).
Status CheckResumeConfig(Communicator& world, const Config& cfg, const TrainRequest& req,
                         const std::string& run_dir, std::vector<std::string>* changes) {
  Status local;
  const std::string saved_path = run_dir + "/config.resolved.toml";
  if (world.rank() == 0 && PathExists(saved_path)) {
    auto saved = Config::Load(saved_path, {});
    if (!saved.ok()) {
      local = saved.status().WithContext("resuming '" + run_dir + "'");
    } else {
      // (The service's default paths resolve from the working directory.)
      *changes = saved.value().RunDifferences(cfg);
      if (!changes->empty() && !req.allow_config_change) {
        std::string list;
        for (const auto& c : *changes) list += "\n  " + c;
        local =
            Status::Usage("resuming '" + run_dir + "': the config differs from the run's own (" + saved_path +
                          "):" + list + "\nresume with the same --config and --set (or --config " +
                          saved_path + "), or pass --allow-config-change to continue under the new values");
      }
    }
  }
  return AgreeStatus(world, local);
}

// Collective. The checkpoint to resume from, checked against the data.
// A resume continues the same data in the same order: a training set whose
// row count changed (a file replaced, the holdout changed) or a position past
// the epoch's end (the batch size changed) cannot be continued exactly.
Status CheckResumeData(const Session& s, const std::string& path, const CheckpointState& ck) {
  const auto rows = static_cast<int64_t>(s.train_rows.size());
  const std::string fix =
      "; a resume continues the same data: restore it, or start a new run that warm-starts from this "
      "checkpoint (train.init_from = '" +
      path + "')";
  if (ck.train_rows > 0 && ck.train_rows != rows) {
    return Status::Data("checkpoint '" + path + "' was trained on " + std::to_string(ck.train_rows) +
                        " training rows, but " + s.train_set->Describe() + " now gives " +
                        std::to_string(rows) + fix);
  }
  if (!ck.train_sample.empty() && ck.train_sample != s.train_sample) {
    return Status::Data("checkpoint '" + path + "' was trained on other data: " + s.train_set->Describe() +
                        " has as many training rows (" + std::to_string(rows) +
                        "), but sampled rows hold other values (the file was replaced or rewritten)" + fix);
  }
  const int64_t batches = BatchesPerEpoch(rows, s.o.batch_size);
  if (ck.next_batch < 0 || ck.next_batch >= batches) {
    return Status::Data("checkpoint '" + path + "' continues at batch " + std::to_string(ck.next_batch) +
                        " of its epoch, but the data has " + std::to_string(batches) +
                        " batches per epoch at train.batch_size = " + std::to_string(s.o.batch_size) + fix);
  }
  return Status::Ok();
}

// The training (and validation) columns in the order of checkpoint `ck`'s
// by name, so that its weights and preprocessing meet the columns they were
// trained on. Found by a stranger: a warm start from a checkpoint trained on
// another column order took the data by position, trained on mismatched
// columns and exited 0. Nothing to do for data without feature_names.
Status MatchCheckpointColumns(Session& s, const CheckpointState& ck, const std::string& path) {
  if (ck.pre.names.empty() || !s.meta.named || ck.pre.names == s.meta.feature_names) return Status::Ok();
  const std::string whose = "checkpoint '" + path + "'";
  DRIFTRUN_RETURN_IF_ERROR(s.train_set->Reorder(ck.pre.names, whose));
  if (s.val_set) DRIFTRUN_RETURN_IF_ERROR(s.val_set->Reorder(ck.pre.names, whose));
  s.meta.feature_names = ck.pre.names;
  DRIFTRUN_ASSIGN_OR_RETURN(s.train_sample, TrainDataSample(s));  // of the rows as they are now read
  return Status::Ok();
}

Status ReadResumeCheckpoint(Session& s, const std::string& path, CheckpointState* ck) {
  Status local = [&]() -> Status {
    DRIFTRUN_ASSIGN_OR_RETURN(*ck, ReadCheckpoint(path));
    if (ck->in_dim != s.meta.dim) {
      return Status::Data("checkpoint '" + path + "' has " + std::to_string(ck->in_dim) +
                          " input features, the data has " + std::to_string(s.meta.dim));
    }
    DRIFTRUN_RETURN_IF_ERROR(MatchCheckpointColumns(s, *ck, path));
    return CheckResumeData(s, path, *ck);
  }();
  return AgreeStatus(*s.world, local.WithContext("resuming"));
}

// Collective. The warm start's checkpoint (train.init_from): a manifest, a
// checkpoint data file beside its manifest, or a registry artifact (data only).
Status ReadWarmStart(Session& s, CheckpointState* ck) {
  const std::string& path = s.o.init_from;
  Status local = [&]() -> Status {
    const bool data_only = EndsWith(path, ".h5") && !PathExists(path.substr(0, path.size() - 3) + ".json");
    DRIFTRUN_ASSIGN_OR_RETURN(*ck, data_only ? ReadCheckpointData(path, "") : ReadCheckpoint(path));
    if (ck->in_dim != s.meta.dim) {
      return Status::Data("checkpoint '" + path + "' has " + std::to_string(ck->in_dim) +
                          " input features, the data has " + std::to_string(s.meta.dim));
    }
    return MatchCheckpointColumns(s, *ck, path);
  }();
  return AgreeStatus(*s.world, local.WithContext("warm start (train.init_from)"));
}

// Collective. Fills the run folder (rank 0) once config and data are known
// to be good; with `overwrite`, the earlier run in it is deleted first. A
// resumed run's metrics rows after its checkpoint's step are dropped: the
// steps after it run again.
Status CreateRunFolder(Communicator& world, const Config& cfg, RunFolderClaim* claim, bool overwrite,
                       const CheckpointState* resumed) {
  Status local;
  if (world.rank() == 0) {
    const std::string& run_dir = claim->run_dir;
    claim->committed = true;
    if (overwrite) RemoveRunFiles(run_dir);
    // A resume that trains on (a finished run given more epochs, say): the
    // earlier end's summary and export no longer describe this folder, and a
    // register or export must not take them for this attempt's result.
    std::vector<std::string> removed;
    if (resumed) local = RemoveStaleResults(run_dir, &removed);
    if (!removed.empty()) {
      std::string names;
      for (const auto& r : removed) names += (names.empty() ? "" : " and ") + r;
      std::cerr
          << "note: the run had finished; its " << names
          << " are removed, as they no longer describe it: this resume writes them anew when it finishes\n";
    }
    if (local.ok()) local = MakeDirs(run_dir + "/checkpoints");
    if (local.ok()) local = WriteFileAtomic(run_dir + "/config.resolved.toml", cfg.ToToml());
    if (local.ok() && resumed) local = DropMetricsAfter(run_dir, resumed->step);
  }
  return AgreeStatus(world, local);
}

}  // namespace

// Collective. Where a resume stands. *finished: the run had finished (its
// checkpoint at the plan's last step, its summary.json done there); said on the
// console with whether config changes were left unapplied. A checkpoint past
// the plan's end (train.epochs lowered after a resume went further) is
// refused: nothing would train, and the run would be called done at a step
// its config does not reach.
Status CheckResumePoint(Session& s, const TrainRequest& req, const std::string& run_dir,
                        const std::string& ckpt_path, const CheckpointState& ck, bool changed,
                        bool* finished) {
  const int64_t total = MakeLoopPlan(s).total_steps;
  std::string done = "0";
  if (s.world->rank() == 0 && ck.step >= total) {
    const std::optional<RunEnd> end = ReadRunEnd(run_dir);
    if (end && end->DoneAt(ckpt_path)) done = "1";
  }
  DRIFTRUN_RETURN_IF_ERROR(BroadcastString(*s.world, &done));
  *finished = done == "1";
  if (!*finished && ck.step > total) {
    return Status::Usage("the checkpoint to resume is at step " + std::to_string(ck.step) +
                         ", past this config's last step (" + std::to_string(total) +
                         "): the run went further before; raise train.epochs or train.max_steps to at least "
                         "that, or start over with --overwrite");
  }
  // --quiet hides the notice, never the warning that config changes were not applied.
  if (*finished && s.world->rank() == 0 && (!req.quiet || changed))
    std::fprintf(
        req.quiet ? stderr : stdout, "%s: already finished at step %lld (%s); nothing to do%s\n",
        EscapeForConsole(run_dir).c_str(), static_cast<long long>(ck.step),
        EscapeForConsole(run_dir + "/summary.json").c_str(),
        changed ? " (the config changes are not applied; to train further, raise train.epochs)" : "");
  return Status::Ok();
}

// Collective. The step loop from `st`, the last checkpoint and the summary.
Status TrainFrom(Session& s, const TrainRequest& req, const Config& cfg, const std::string& run_dir,
                 const std::string& ckpt_path, const std::string& run_id, LoopState* st, TrainResult* result,
                 double t0) {
  const Clock& clock = req.clock ? *req.clock : SteadyClock();
  const bool resuming = !ckpt_path.empty();
  const std::string config_hash = cfg.Hash();
  const LoopPlan plan = MakeLoopPlan(s);
  TrainReporter rep = MakeReporter(s, req, run_dir, clock);
  ReportStart(rep, s, req, run_dir, ckpt_path, st->at);
  LoopHooks hooks;
  hooks.report = &rep;
  hooks.stop = req.stop;
  hooks.on_step = req.on_step;
  hooks.fault = req.fault;
  hooks.clock = &clock;
  hooks.start_s = t0;
  hooks.save = [&](const LoopPosition& at) -> Status {
    if (s.streamer) s.streamer->Quiesce();  // HDF5 from one thread at a time
    Status written;
    if (s.world->rank() == 0) {
      const double started = clock.Seconds();
      CheckpointState snap = Snapshot(s, at, config_hash);
      snap.run_id = run_id;
      snap.train_loss = at.epoch_loss_steps > 0 ? at.epoch_loss_sum / at.epoch_loss_steps
                                                : st->last_epoch_train_loss;  // at an epoch boundary
      auto m = WriteCheckpoint(run_dir + "/checkpoints", snap, static_cast<int>(s.o.checkpoint_keep));
      if (m.ok()) {
        result->last_checkpoint = m.value();
        rep.Checkpoint(at.step, m.value(), clock.Seconds() - started);
      } else {
        written = m.status().WithContext("writing a checkpoint");
      }
    }
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(*s.world, written));
    return BroadcastString(*s.world, &result->last_checkpoint);
  };
  if (!resuming && s.o.checkpoint_initial) DRIFTRUN_RETURN_IF_ERROR(hooks.save(st->at));
  Status looped = RunStepLoop(s, plan, hooks, st);
  if (looped.code() == Code::kTraining && !looped.message().empty()) {
    // Diverged: name the healthiest checkpoint kept, which may not be the newest.
    const std::string best = LowestLossCheckpoint(run_dir + "/checkpoints", run_id);
    if (!best.empty())
      looped =
          Status(looped.code(), looped.message() + ". Of the checkpoints kept, " + best +
                                    " had the lowest training loss when written (its weights may already "
                                    "be on the way up): resume from it with the fix, --resume " +
                                    ShellQuote(best) +
                                    " --allow-config-change --set ..., or start over "
                                    "with --overwrite");
  }
  DRIFTRUN_RETURN_IF_ERROR(looped);
  // A stop that came with the last step finds the work done: finish normally.
  if (st->at.step >= plan.total_steps) st->stopped = false;
  // Resumed at the last step (the summary was not written): evaluate once.
  if (!st->stopped && std::isnan(st->last_eval.loss)) {
    DRIFTRUN_ASSIGN_OR_RETURN(st->last_eval, Evaluate(s));
  }

  if (st->steps_run > 0 || !resuming) {
    DRIFTRUN_RETURN_IF_ERROR(hooks.save(st->at));
  } else {
    result->last_checkpoint = ckpt_path;  // nothing trained: the checkpoint stays as it was (its sha256 too)
  }
  result->steps = st->at.step;
  result->stopped = st->stopped;
  result->val_loss = st->last_eval.loss;
  result->val_metric = st->last_eval.metric;
  if (!st->stopped) DRIFTRUN_RETURN_IF_ERROR(ReducePreCounts(s));
  return ReportEnd(rep, s, req, *st, *result, config_hash, clock.Seconds() - t0);
}

// "key: rank 0's value -> this rank's" for the keys in which `mine` differs from rank 0's
// resolved config (the first few), the keys a user fixes.
static std::string KeysThatDiffer(const Config& mine, const std::string& first_toml) {
  auto first = Config::FromString(first_toml, "rank 0's config", {});
  std::vector<std::string> keys;
  if (first.ok()) {
    for (const std::string& d : first.value().Differences(mine))
      if (d.rfind("mlflow.", 0) != 0) keys.push_back(d);
  }
  if (keys.empty()) return "config hash " + mine.Hash().substr(0, 12);
  std::string out;
  for (size_t i = 0; i < keys.size() && i < 3; ++i) out += (i ? "; " : "") + keys[i];
  if (keys.size() > 3) out += "; and " + std::to_string(keys.size() - 3) + " more";
  return out;
}

// Collective, first of all: every rank was given rank 0's configuration
// (mpirun's ':' form hands each rank its own command line). Ranks that differ
// would each train their own way under one run folder, or issue different
// collectives.
static Status AgreeConfig(Communicator& world, const Config& cfg, const TrainRequest& req) {
  const std::string mine = cfg.Hash();
  std::string first = mine, first_toml = cfg.ToToml();
  DRIFTRUN_RETURN_IF_ERROR(BroadcastString(world, &first));
  DRIFTRUN_RETURN_IF_ERROR(BroadcastString(world, &first_toml));
  // The folder options too: rank 0 alone decides the folder, and a rank told
  // another --run-dir would have it ignored without a word. Paths compare
  // absolute, so runs/x and ./runs/x are one folder.
  const auto path = [](const std::string& p) { return p.empty() || p == "auto" ? p : AbsolutePath(p); };
  const std::string folder = "--run-dir '" + path(req.run_dir) + "' --resume '" + path(req.resume) + "'" +
                             (req.overwrite ? " --overwrite" : "") +
                             (req.allow_config_change ? " --allow-config-change" : "");
  std::string first_folder = folder;
  DRIFTRUN_RETURN_IF_ERROR(BroadcastString(world, &first_folder));
  Status local;
  if (mine != first) {
    local = Status::Usage("rank " + std::to_string(world.rank()) +
                          " was started with another configuration than rank 0 (rank 0 -> rank " +
                          std::to_string(world.rank()) + ": " + KeysThatDiffer(cfg, first_toml) +
                          "): every rank of a job must get the same --config and --set options");
  } else if (folder != first_folder) {
    local =
        Status::Usage("rank " + std::to_string(world.rank()) + " was started with other folder options (" +
                      folder + ") than rank 0 (" + first_folder +
                      "): every rank of a job must get the same --run-dir, --resume, --overwrite and "
                      "--allow-config-change");
  }
  return AgreeStatus(world, local);
}

// A resume whose allowed config changes alter the architecture fails to load
// its checkpoint's weights: the user's change, not bad data (exit 2).
static Status AsArchitectureChange(const Status& built) {
  if (built.code() != Code::kData) return built;
  if (built.message().empty()) return Status(Code::kUsage, "");
  return Status::Usage(
      built.message() +
      ": a resume keeps the run's architecture (--allow-config-change covers settings such as "
      "train.epochs or train.lr); to change the model, start over with --overwrite or another "
      "--run-dir");
}

static Result<TrainResult> TrainImpl(Communicator& world, const Config& cfg, const TrainRequest& req) {
  const double t0 = (req.clock ? *req.clock : SteadyClock()).Seconds();
  DRIFTRUN_RETURN_IF_ERROR(AgreeConfig(world, cfg, req));
  Session s;
  s.world = &world;
  DRIFTRUN_ASSIGN_OR_RETURN(s.o, TrainOptions::FromConfig(cfg, world.size()));
  torch::set_num_threads(s.o.threads > 0
                             ? static_cast<int>(s.o.threads)
                             : DefaultThreads(req.local_size > 0 ? req.local_size : world.size()));

  DRIFTRUN_RETURN_IF_ERROR(OpenTrainingData(s));
  {
    Result<std::string> sample = TrainDataSample(s);
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(world, sample.status().WithContext("reading the training data")));
    s.train_sample = sample.value();
  }
  std::string run_dir, ckpt_path;
  bool overwrite = false;
  RunFolderClaim claim;  // rank 0: the locked folder, held until training ends
  DRIFTRUN_RETURN_IF_ERROR(ChooseRunFolder(world, req, s.o.name, &claim, &run_dir, &ckpt_path, &overwrite));
  std::vector<std::string> config_changes;
  if (!ckpt_path.empty())
    DRIFTRUN_RETURN_IF_ERROR(CheckResumeConfig(world, cfg, req, run_dir, &config_changes));
  DRIFTRUN_RETURN_IF_ERROR(SetupDevice(s, req.local_rank, req.device_comm));
  const bool resuming = !ckpt_path.empty();
  CheckpointState ck;
  TrainResult result;
  result.run_dir = run_dir;
  if (resuming) {
    DRIFTRUN_RETURN_IF_ERROR(ReadResumeCheckpoint(s, ckpt_path, &ck));
    DRIFTRUN_RETURN_IF_ERROR(
        CheckResumePoint(s, req, run_dir, ckpt_path, ck, !config_changes.empty(), &result.already_finished));
    if (result.already_finished) {
      result.steps = ck.step;
      result.last_checkpoint = ckpt_path;
      result.run_lock = std::make_shared<FileLock>(std::move(claim.lock));
      return result;
    }
  }
  // A warm start takes the checkpoint's weights and fitted preprocessing, and
  // trains with a fresh optimizer from step 0; a resume continues its own run.
  const bool warm = !resuming && !s.o.init_from.empty();
  if (warm) DRIFTRUN_RETURN_IF_ERROR(ReadWarmStart(s, &ck));
  DRIFTRUN_RETURN_IF_ERROR(PlanDataMode(s, resuming ? &ck : nullptr));
  DRIFTRUN_RETURN_IF_ERROR(ReadShard(s));
  DRIFTRUN_RETURN_IF_ERROR(FitPreprocessing(s, resuming || warm ? &ck : nullptr));
  s.autograd_step = req.autograd_step;
  s.step_pipeline = req.step_pipeline;
  Status built = BuildModel(s, resuming ? &ck : nullptr, ckpt_path);
  DRIFTRUN_RETURN_IF_ERROR(resuming && !config_changes.empty() ? AsArchitectureChange(built) : built);
  if (warm) {
    Status local = LoadParameters(*s.model, ck.model);
    DRIFTRUN_RETURN_IF_ERROR(
        AgreeStatus(world, local.WithContext("warm start from '" + s.o.init_from + "'")));
  }
  DRIFTRUN_RETURN_IF_ERROR(LoadTensors(s));
  // Only now, with the checkpoint's weights in the model: a resume refused
  // above (another architecture, say) leaves the folder as it was.
  DRIFTRUN_RETURN_IF_ERROR(CreateRunFolder(world, cfg, &claim, overwrite, resuming ? &ck : nullptr));

  LoopState st;
  if (resuming) {
    st.at = {ck.step, ck.epoch, ck.next_batch, ck.epoch_loss_sum, ck.epoch_loss_steps, ck.samples_seen};
  }
  const std::string run_id = resuming && !ck.run_id.empty() ? ck.run_id : NewRunId();
  ck = CheckpointState();  // weights are in the model now
  if (!config_changes.empty() && world.rank() == 0)
    (void)RunLog(run_dir, true).Event("config_change", {{"changes", config_changes}});
  DRIFTRUN_RETURN_IF_ERROR(TrainFrom(s, req, cfg, run_dir, ckpt_path, run_id, &st, &result, t0));
  result.run_lock = std::make_shared<FileLock>(std::move(claim.lock));
  return result;
}

Result<TrainResult> Train(Communicator& world, const Config& cfg, const TrainRequest& req) {
  Result<TrainResult> r = Status::Infra("not run");
  try {
    r = TrainImpl(world, cfg, req);
  } catch (...) {
    // This rank's alone (peers may wait in a collective): no DedupeStatus, and
    // the CLI ends the whole job. Out of memory and device errors are exit 5.
    return ExceptionStatus(std::current_exception(),
                           "training failed on rank " + std::to_string(world.rank()), Code::kTraining);
  }
  if (r.ok() || r.status().code() == Code::kInfra) return r;
  return DedupeStatus(world, r.status());
}

}  // namespace driftrun
