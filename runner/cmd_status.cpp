// driftrun status: what the retraining service knows (journal + registry);
// driftrun replay: its checks and trigger policy over past batches, no training.
#include <gflags/gflags.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "common/clock.h"
#include "common/file_lock.h"
#include "common/file_util.h"
#include "common/json_get.h"
#include "common/text.h"
#include "runner/commands.h"
#include "scheduler/batch_score.h"
#include "scheduler/journal.h"
#include "scheduler/replay.h"
#include "scheduler/service_status.h"
#include "trainers/run_log.h"

DECLARE_string(config);
DECLARE_string(model);
DECLARE_bool(json);
DEFINE_int64(limit, 5, "batches and jobs shown per model");
DEFINE_string(replay_batches, "", "folder of past batches");
DEFINE_int64(replay_version, 0, "registered version to score against");
DEFINE_double(retrain_s, 0, "assumed duration of a retrain");

namespace driftrun {

const CommandSpec kStatusSpec = {
    "status",
    "the retraining service's state: production versions, recent batches, triggers and jobs",
    "driftrun status --config SERVICE.toml [--model NAME] [--limit N] [--json]",
    {{"config", "the service config"},
     {"model", "only this model"},
     {"limit", "batches and jobs shown per model (default 5)"},
     {"json", "print everything as JSON"}},
    true};

const CommandSpec kReplaySpec = {
    "replay",
    "score past batches and run the trigger policy on them, without training: when would retrains happen?",
    "driftrun replay --config SERVICE.toml --batches DIR [--model NAME] [--version N] [--retrain-s S] "
    "[--json]",
    {{"config", "the service config (its models' [monitor], [trigger] and [drift] settings are used)"},
     {"batches", "folder of past batches (*.h5), replayed oldest modification time first", "replay_batches"},
     {"model", "the model to replay (default: every model in service.models)"},
     {"version", "score against this registered version (default: the production version)", "replay_version"},
     {"retrain_s",
      "assume each retrain takes this long (batches meanwhile merge into it; the cooldown counts from its "
      "end); default 0"},
     {"json", "print one object per batch as JSON"}},
    true};

namespace {

std::string When(double t) {
  if (t <= 0) return "-";
  char buf[32];
  const std::time_t s = static_cast<std::time_t>(t);
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", std::localtime(&s));
  return buf;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

void PrintModel(const nlohmann::json& m, double now) {
  const int64_t prod = m["production"];
  std::cout << "model " << EscapeForConsole(m["name"].get<std::string>()) << ": production "
            << (prod > 0 ? m["name"].get<std::string>() + ":" + std::to_string(prod) : "none yet")
            << "; next retrain allowed "
            << (m["next_trigger_allowed"].get<double>() <= now ? "now" : When(m["next_trigger_allowed"]))
            << "; batches in the trigger window not used by a retrain yet " << m["pending_batches"] << "\n";
  std::cout << "  batches (newest first):\n";
  if (m["batches"].empty()) std::cout << "    none yet\n";
  for (const auto& b : m["batches"]) {
    std::cout << "    " << When(b["scored_at"]) << "  "
              << EscapeForConsole(BaseName(b["file"].get<std::string>())) << "  " << b["rows"] << " rows  "
              << b["decision"].get<std::string>() << (b["drifted"].get<bool>() ? "  DRIFT" : "")
              << (b["concept"].get<bool>() ? "  CONCEPT" : "") << "  share " << Num(b["drift_share"])
              << "\n      " << EscapeForConsole(b["reason"].get<std::string>()) << "\n";
  }
  std::cout << "  jobs (newest first):\n";
  if (m["jobs"].empty()) std::cout << "    none yet\n";
  for (const auto& j : m["jobs"]) {
    std::cout << "    job " << j["id"] << "  " << j["state"].get<std::string>() << "  trigger "
              << j["trigger"].get<std::string>() << "  queued " << When(j["queued_at"]);
    if (j["version"].get<int64_t>() > 0) std::cout << "  version " << j["version"];
    if (j.contains("slurm_job")) std::cout << "  Slurm job " << j["slurm_job"].get<std::string>();
    const nlohmann::json& p = j.value("progress", nlohmann::json());
    const nlohmann::json& pool = j.value("pool", nlohmann::json());
    if (pool.is_object()) {
      std::string ranks;
      for (const auto& r : pool["ranks"]) ranks += (ranks.empty() ? "" : ",") + r.dump();
      std::cout << "  ranks " << ranks;
      if (pool.contains("step"))
        std::cout << "  step " << pool["step"] << "/" << pool.value("total_steps", nlohmann::json()) << "  "
                  << Num(pool.value("samples_per_s", 0.0)) << " samples/s";
      std::cout << "  heartbeat " << Num(pool.value("heartbeat_age_s", 0.0)) << " s ago";
    } else if (p.is_object() && j["state"] == "running") {
      std::cout << "  epoch " << p.value("epoch", 0) << " step " << p.value("step", 0);
    }
    std::cout << "\n      " << EscapeForConsole(j["reason"].get<std::string>()) << "\n";
    if (!JsonString(j, "cold_start").empty())
      std::cout << "      from scratch: " << EscapeForConsole(JsonString(j, "cold_start")) << "\n";
    for (const auto& l : JsonAt(j, "left_out")) {
      const std::string line = l.is_string() ? l.get<std::string>()  // a journal from before 2026-11-29
                                             : "batch " + JsonString(l, "file") + " (sha256 " +
                                                   JsonString(l, "sha256").substr(0, 12) +
                                                   ") left out: " + JsonString(l, "why");
      std::cout << "      " << EscapeForConsole(line) << "\n";
    }
  }
}

}  // namespace

int RunStatus(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kStatusSpec, argc, argv, &args, &code)) return code;
  if (FLAGS_limit < 1) return ReportStatus("status", Status::Usage("--limit must be >= 1"));
  std::string note;
  auto setup = ServiceSetup::LoadAsServed(FLAGS_config, args.sets, &note);
  if (!setup.ok()) return ReportStatus("status", setup.status());
  if (!note.empty()) std::cerr << "driftrun status: " << EscapeForConsole(note) << "\n";
  if (PathExists(setup.value().Journal())) {  // a damaged journal is said, not shown as half the truth
    auto jn = Journal::Open(setup.value().Journal(), false);
    const Status sound = jn.ok() ? jn.value()->CheckIntegrity() : jn.status();
    if (!sound.ok()) return ReportStatus("status", sound);
  }
  ServiceStatusOptions so;
  so.model = FLAGS_model;
  so.limit = FLAGS_limit;
  so.now = WallClock().Seconds();
  auto status = ServiceStatusJson(setup.value(), so);
  if (!status.ok()) return ReportStatus("status", status.status());
  const nlohmann::json& out = status.value();
  const double now = so.now;
  const std::string holder = out["service"]["holder"];
  const nlohmann::json pool = out["service"].value("pool", nlohmann::json());
  if (FLAGS_json) {
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::cout << "state " << EscapeForConsole(out["state"].get<std::string>()) << "; service "
            << (holder.empty() ? "not running (running jobs continue when it starts again)"
                               : "running (" + EscapeForConsole(holder) + ")")
            << "; " << out["pending_signals"] << " signal(s) waiting for it\n";
  if (pool.is_object()) {
    std::cout << "pool: " << pool.value("workers", 0) << " worker rank(s), " << pool.value("busy", 0)
              << " busy, " << pool.value("idle", 0) << " idle\n";
  }
  for (const auto& m : out["models"]) PrintModel(m, now);
  return 0;
}

int RunReplay(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kReplaySpec, argc, argv, &args, &code)) return code;
  std::string note;
  auto setup = ServiceSetup::LoadAsServed(FLAGS_config, args.sets, &note);
  if (!setup.ok()) return ReportStatus("replay", setup.status());
  if (!note.empty()) std::cerr << "driftrun replay: " << EscapeForConsole(note) << "\n";
  if (FLAGS_replay_batches.empty())
    return ReportStatus("replay", Status::Usage("--batches DIR is required: a folder of past *.h5 batches"));
  if (!IsDir(FLAGS_replay_batches)) {
    return ReportStatus("replay",
                        Status::Usage("--batches '" + FLAGS_replay_batches +
                                      "' is not a folder; give the folder that holds the past *.h5 batches"));
  }
  if (FLAGS_retrain_s < 0 || FLAGS_replay_version < 0)
    return ReportStatus("replay", Status::Usage("--retrain-s and --version must be >= 0"));
  if (!FLAGS_model.empty() && !setup.value().Find(FLAGS_model))
    return ReportStatus("replay", Status::Usage("model '" + FLAGS_model + "' is not in service.models"));
  nlohmann::json out = nlohmann::json::array();
  for (const ModelEntry& m : setup.value().models) {
    if (!FLAGS_model.empty() && m.name != FLAGS_model) continue;
    // The service's own registry, when it has run (found by a stranger: a
    // replay against another registry's "production" compared another model).
    if (PathExists(setup.value().Journal())) {
      auto jn = Journal::Open(setup.value().Journal(), false);
      if (!jn.ok()) return ReportStatus("replay", jn.status());
      auto prod = ProductionVersion(m.registry, m.name);
      if (!prod.ok()) return ReportStatus("replay", prod.status());
      Status same = CheckPromotedIsInRegistry(*jn.value(), m, prod.value());
      if (!same.ok()) return ReportStatus("replay", same);
    }
    auto p = LoadProduction(m.registry, m.name, FLAGS_replay_version);
    if (!p.ok()) return ReportStatus("replay", p.status());
    if (p.value()->version == 0) {
      // Found by a stranger: "give --version N" when it was given, and the registry did not exist.
      const std::string why =
          !PathExists(m.registry + "/registry.db")
              ? "registry " + m.registry + " does not exist (no registry.db): check [registry] path"
          : FLAGS_replay_version > 0 ? "model '" + m.name + "' has no version " +
                                           std::to_string(FLAGS_replay_version) + " in " + m.registry
                                     : "model '" + m.name + "' has no production version in " + m.registry +
                                           " to score against; give --version N";
      return ReportStatus("replay", Status::Usage(why));
    }
    std::vector<std::string> skipped;
    auto rows = Replay(m, *p.value(), FLAGS_replay_batches, FLAGS_retrain_s, &skipped);
    if (!rows.ok()) return ReportStatus("replay", rows.status());
    for (const std::string& f : skipped) {
      std::cerr << ("driftrun replay: skipped " + EscapeForConsole(f) + ": it is model '" +
                    EscapeForConsole(m.name) + "'s training data (data.train), not a batch\n");
    }
    int retrains = 0;
    if (!FLAGS_json)
      std::cout << "model " << EscapeForConsole(m.name) << " against version " << p.value()->version
                << " (job numbers count this replay's retrains, not the service's jobs):\n";
    for (const ReplayRow& r : rows.value()) {
      nlohmann::json j = BatchJson(r.batch);
      j["model"] = m.name;
      j["action"] = r.trigger.action;
      j["trigger_reason"] = r.trigger.line;
      j["job"] = r.trigger.job;
      out.push_back(j);
      if (r.trigger.action == "queue") ++retrains;
      if (FLAGS_json) continue;
      std::cout << "  " << EscapeForConsole(BaseName(r.batch.file)) << "  " << r.batch.decision
                << (r.batch.drifted ? "  DRIFT" : "") << (r.batch.concept ? "  CONCEPT" : "") << "  -> "
                << r.trigger.action << "\n      " << EscapeForConsole(r.batch.reason) << "\n";
      if (!r.trigger.line.empty()) std::cout << "      " << EscapeForConsole(r.trigger.line) << "\n";
    }
    if (!FLAGS_json)
      std::cout << "  " << rows.value().size() << " batches, " << retrains << " retrain(s) would be queued\n";
  }
  if (FLAGS_json) std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace driftrun
