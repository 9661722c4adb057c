// driftrun registry: list, show, register, promote, approve, rollback, verify.
#include <gflags/gflags.h>

#include <cstdio>
#include <iostream>

#include "common/config.h"
#include "registry/model_source.h"
#include "registry/registry.h"
#include "runner/commands.h"
#include "scheduler/register_run.h"
#include "trainers/predict.h"

DECLARE_string(config);
DECLARE_string(registry);
DECLARE_string(model);
DECLARE_string(run);
DECLARE_bool(json);
DEFINE_string(alias, "", "alias");
DEFINE_string(by, "", "who");
DEFINE_string(note, "", "approval note");
DEFINE_string(reason, "", "why");
DEFINE_string(trigger, "manual", "what triggered the run");
DEFINE_string(gate, "holdout", "holdout | recorded");

namespace driftrun {

const CommandSpec kRegistrySpec = {
    "registry",
    "model registry: list, show, register, promote, approve, rollback, verify",
    "driftrun registry list [--model NAME] [--json]\n"
    "       driftrun registry show NAME[:VERSION|@ALIAS] [--json]\n"
    "       driftrun registry register --run RUN_DIR [--trigger TEXT]\n"
    "       driftrun registry promote NAME:VERSION --alias production [--by WHO] [--reason TEXT]\n"
    "       driftrun registry approve NAME:VERSION --by WHO --note TEXT\n"
    "       driftrun registry rollback NAME --alias production [--by WHO]\n"
    "       driftrun registry verify [--json]\n"
    "   the registry folder comes from --registry, else --config FILE's [registry] path, else "
    "./driftrun-registry",
    {{"registry", "registry folder (registry.db and artifacts/)"},
     {"config", "experiment config whose [registry] path, tolerance and require_approval apply"},
     {"model", "list: only this model"},
     {"run", "register: the finished run folder to register (idempotent per run)"},
     {"trigger", "register: what triggered the run (drift report path, signal id)"},
     {"alias", "promote, rollback: the alias to move (production, candidate, ...)"},
     {"by", "approve: who approves; promote, rollback: who moves the alias (default $USER)"},
     {"note", "approve: the approval note"},
     {"reason", "promote: why (recorded with the alias move)"},
     {"gate",
      "promote to production: 'holdout' evaluates the candidate and the production holder on the candidate's "
      "holdout rows (its data.val, else the val_fraction split its training held out); 'recorded' compares "
      "the "
      "holdout losses recorded at registration"},
     {"json", "machine-readable output"}},
    true};

namespace {

std::string Who() {
  if (!FLAGS_by.empty()) return FLAGS_by;
  const char* u = std::getenv("USER");
  return u && *u ? u : "unknown";
}

void PrintRow(const VersionRecord& v) {
  const auto& h = v.record["metrics"]["holdout"];
  std::string aliases;
  for (const auto& a : v.aliases) aliases += (aliases.empty() ? "" : ",") + a;
  std::printf("%-20s %4lld  %-20s %-6s %-14s %-12s %s\n", v.name.c_str(), static_cast<long long>(v.version),
              v.created.c_str(), v.record.value("kind", "").c_str(),
              h["loss"].is_number() ? std::to_string(h["loss"].get<double>()).c_str() : "-",
              aliases.empty() ? "-" : aliases.c_str(), v.approvals.empty() ? "" : "approved");
}

Result<ModelRef> VersionArg(const ParsedArgs& a, bool need_version) {
  if (a.positional.size() < 2) return Status::Usage("name the model: NAME:VERSION");
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, ParseModelRef(a.positional[1]));
  if (need_version && r.version == 0) {
    return Status::Usage("'" + a.positional[1] + "': name a version, e.g. " + r.name + ":3");
  }
  return r;
}

Status DoRegister(const std::string& root) {
  if (FLAGS_run.empty()) return Status::Usage("register needs --run RUN_DIR");
  RegisterRunOptions o;
  o.registry = root;
  o.trigger = FLAGS_trigger;
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, RegisterRun(FLAGS_run, o));
  if (FLAGS_json) {
    std::cout << v.ToJson().dump(2) << "\n";
  } else {
    std::cout << "registered " << v.name << ":" << v.version << " (run " << v.run_id
              << ", alias candidate)\n";
  }
  return Status::Ok();
}

Status DoList(Registry& reg) {
  if (!FLAGS_model.empty()) DRIFTRUN_RETURN_IF_ERROR(ValidateName("model name", FLAGS_model));
  DRIFTRUN_ASSIGN_OR_RETURN(auto all, reg.List(FLAGS_model));
  if (FLAGS_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : all) out.push_back(v.ToJson());
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%-20s %4s  %-20s %-6s %-14s %-12s %s\n", "name", "ver", "created", "kind", "holdout_loss",
                "aliases", "");
    for (const auto& v : all) PrintRow(v);
  }
  return Status::Ok();
}

Status DoShow(Registry& reg, const ParsedArgs& a) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, VersionArg(a, false));
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, reg.Get(r));
  nlohmann::json j = v.ToJson();
  DRIFTRUN_ASSIGN_OR_RETURN(j["alias_history"], reg.History(v.name));
  if (!FLAGS_json) j.erase("config");
  std::cout << j.dump(2) << "\n";
  return Status::Ok();
}

// Both models evaluated fresh on the candidate's holdout rows.
Result<std::pair<double, double>> HoldoutCompare(const VersionRecord& cand, const VersionRecord& prod) {
  CheckpointState cck, pck;
  Config ccfg, pcfg;
  DRIFTRUN_RETURN_IF_ERROR(LoadVersion(cand, &cck, &ccfg));
  DRIFTRUN_RETURN_IF_ERROR(LoadVersion(prod, &pck, &pcfg));
  const std::string hint = "; if the candidate's data moved, use --gate recorded";
  auto c = HoldoutLoss(cck, ccfg, ccfg);
  if (!c.ok()) return c.status().WithContext("evaluating the candidate on its holdout" + hint);
  auto p = HoldoutLoss(pck, pcfg, ccfg);
  if (!p.ok())
    return p.status().WithContext("evaluating the production holder on the candidate's holdout" + hint);
  return std::make_pair(c.value(), p.value());
}

Status DoPromote(Registry& reg, const ParsedArgs& a, const Config& cfg) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, VersionArg(a, true));
  if (FLAGS_alias.empty()) return Status::Usage("promote needs --alias (e.g. --alias production)");
  PromoteOptions o;
  o.who = Who();
  o.why = FLAGS_reason.empty() ? "promote" : FLAGS_reason;
  o.tolerance = cfg.Float("registry.tolerance");
  o.require_approval = cfg.Bool("registry.require_approval");
  if (FLAGS_gate != "holdout" && FLAGS_gate != "recorded") {
    return Status::Usage("--gate must be holdout or recorded, not '" + FLAGS_gate + "'");
  }
  if (FLAGS_gate == "holdout") o.compare = HoldoutCompare;
  DRIFTRUN_RETURN_IF_ERROR(reg.Promote(r.name, r.version, FLAGS_alias, o));
  std::cout << r.name << "@" << FLAGS_alias << " -> version " << r.version << "\n";
  return Status::Ok();
}

Status DoApprove(Registry& reg, const ParsedArgs& a) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, VersionArg(a, true));
  if (FLAGS_by.empty()) return Status::Usage("approve needs --by WHO");
  DRIFTRUN_RETURN_IF_ERROR(reg.Approve(r.name, r.version, FLAGS_by, FLAGS_note));
  std::cout << "approved " << r.name << ":" << r.version << " by " << FLAGS_by << "\n";
  return Status::Ok();
}

Status DoRollback(Registry& reg, const ParsedArgs& a) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, VersionArg(a, false));
  if (FLAGS_alias.empty()) return Status::Usage("rollback needs --alias (e.g. --alias production)");
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t v, reg.Rollback(r.name, FLAGS_alias, Who()));
  std::cout << r.name << "@" << FLAGS_alias << " rolled back to version " << v << "\n";
  return Status::Ok();
}

Status DoVerify(Registry& reg, const std::string& root) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto problems, reg.Verify());
  if (FLAGS_json) {
    std::cout << nlohmann::json{{"ok", problems.empty()}, {"problems", problems}}.dump(2) << "\n";
  } else {
    for (const auto& p : problems) std::cout << "BAD " << p << "\n";
    if (problems.empty()) std::cout << "registry " << root << ": every artifact matches its sha256\n";
  }
  if (!problems.empty()) {
    return Status::Data(
        std::to_string(problems.size()) +
        " artifact(s) are missing or altered; restore them from a backup or re-register the runs");
  }
  return Status::Ok();
}

Status Run(const ParsedArgs& a) {
  if (a.positional.empty())
    return Status::Usage("name a registry command: list, show, register, promote, approve, rollback, verify");
  const std::string sub = a.positional[0];
  DRIFTRUN_ASSIGN_OR_RETURN(std::string root, RegistryPath(FLAGS_registry, FLAGS_config));
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(FLAGS_config, a.sets));
  if (sub == "register") return DoRegister(root);
  DRIFTRUN_ASSIGN_OR_RETURN(auto reg, Registry::Open(root));
  if (sub == "list") return DoList(*reg);
  if (sub == "show") return DoShow(*reg, a);
  if (sub == "promote") return DoPromote(*reg, a, cfg);
  if (sub == "approve") return DoApprove(*reg, a);
  if (sub == "rollback") return DoRollback(*reg, a);
  if (sub == "verify") return DoVerify(*reg, root);
  return Status::Usage("unknown registry command '" + sub +
                       "'; use list, show, register, promote, approve, rollback or verify");
}

}  // namespace

int RunRegistry(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kRegistrySpec, argc, argv, &args, &code)) return code;
  return ReportStatus("registry", Run(args));
}

}  // namespace driftrun
