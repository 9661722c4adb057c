// driftrun registry: list, show, register, promote, approve, rollback, verify.
#include <gflags/gflags.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "common/config.h"
#include "common/text.h"
#include "registry/model_source.h"
#include "registry/registry.h"
#include "runner/commands.h"
#include "runner/registry_view.h"
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
    "./driftrun-registry;\n"
    "   only `register` creates a registry: the other commands exit 2 (registry not found) when it does not "
    "exist.\n"
    "   list and show print a table and key: value lines; --json prints the full records (the contract for "
    "scripts).\n"
    "   list prints every readable version and exits 3 after naming any record it cannot read (run verify);\n"
    "   verify checks the database (records, aliases, artifact rows) and every artifact's sha256, prints one "
    "line per problem and exits 3 when there is any.\n"
    "   register is idempotent per run and checkpoint: the same run with the same final checkpoint gives its "
    "existing version; a run resumed and trained further becomes a new version",
    {{"registry", "registry folder (registry.db and artifacts/)"},
     {"config", "experiment config whose [registry] path, tolerance and require_approval apply"},
     {"model", "list: only this model (exit 2 when the registry has none of that name)"},
     {"run", "register: the finished run folder to register (idempotent per run and final checkpoint)"},
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

// JSON for stdout: bytes that are not UTF-8 (from a hand-edited database)
// replaced instead of throwing.
std::string Dump(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string Who() {
  if (!FLAGS_by.empty()) return FLAGS_by;
  const char* u = std::getenv("USER");
  return u && *u ? u : "unknown";
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
  bool existed = false;
  o.existed = &existed;
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, RegisterRun(FLAGS_run, o));
  if (FLAGS_json) {
    std::cout << Dump(v.ToJson());
  } else if (existed) {
    const Artifact* ck = v.Find("checkpoint");
    std::cout << EscapeForConsole(v.name) << ":" << v.version << " already registered (run "
              << EscapeForConsole(v.run_id) << ", same checkpoint sha256 "
              << (ck ? ck->sha256.substr(0, 16) + "..." : std::string("-")) << "); nothing changed\n";
  } else {
    std::cout << "registered " << EscapeForConsole(v.name) << ":" << v.version << " (run "
              << EscapeForConsole(v.run_id) << ", alias candidate)\n";
  }
  return Status::Ok();
}

// Every readable version; a record that cannot be read is named on stderr and
// makes the exit code 3 once the rest is printed.
Status DoList(Registry& reg, const std::string& root) {
  if (!FLAGS_model.empty()) DRIFTRUN_RETURN_IF_ERROR(ValidateName("model name", FLAGS_model));
  std::vector<std::string> unreadable;
  DRIFTRUN_ASSIGN_OR_RETURN(auto all, reg.List(FLAGS_model, &unreadable));
  if (!FLAGS_model.empty() && all.empty() && unreadable.empty()) {
    return Status::Usage("no model '" + FLAGS_model + "' in the registry '" + root +
                         "'; see `driftrun registry list` for its models");
  }
  if (FLAGS_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : all) out.push_back(v.ToJson());
    std::cout << Dump(out);
  } else {
    std::cout << VersionTable(all);
  }
  std::cout.flush();
  for (const auto& u : unreadable) std::cerr << "driftrun registry: skipped: " << EscapeForConsole(u) << "\n";
  if (!unreadable.empty()) {
    return Status::Data(std::to_string(unreadable.size()) +
                        " version record(s) could not be read and were left out (named above); run `driftrun "
                        "registry verify`");
  }
  return Status::Ok();
}

Status DoShow(Registry& reg, const ParsedArgs& a) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, VersionArg(a, false));
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, reg.Get(r));
  DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json history, reg.History(v.name));
  if (!FLAGS_json) {
    std::cout << VersionDetails(v, history);
    return Status::Ok();
  }
  nlohmann::json j = v.ToJson();
  j["alias_history"] = history;
  std::cout << Dump(j);
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
  std::cout << "approved " << r.name << ":" << r.version << " by " << EscapeForConsole(FLAGS_by) << "\n";
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
    std::cout << Dump({{"ok", problems.empty()}, {"problems", problems}});
  } else {
    for (const auto& p : problems) std::cout << "BAD " << EscapeForConsole(p) << "\n";
    if (problems.empty()) {
      std::cout << "registry " << EscapeForConsole(root)
                << ": the database is consistent and every artifact matches its sha256\n";
    }
  }
  if (!problems.empty()) {
    return Status::Data(
        std::to_string(problems.size()) +
        " problem(s) found (listed above); restore registry.db or the artifacts from a backup, or "
        "re-register the runs");
  }
  return Status::Ok();
}

Status Run(const ParsedArgs& a) {
  const std::vector<std::string> subs = {"list",    "show",     "register", "promote",
                                         "approve", "rollback", "verify"};
  if (a.positional.empty())
    return Status::Usage("name a registry command: list, show, register, promote, approve, rollback, verify");
  const std::string sub = a.positional[0];
  if (std::find(subs.begin(), subs.end(), sub) == subs.end()) {
    const std::string near = ClosestMatch(sub, subs, 2);
    return Status::Usage("unknown registry command '" + sub + "'" +
                         (near.empty() ? "" : " (did you mean `" + near + "`?)") +
                         "; use list, show, register, promote, approve, rollback or verify");
  }
  DRIFTRUN_ASSIGN_OR_RETURN(std::string root, RegistryPath(FLAGS_registry, FLAGS_config));
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(FLAGS_config, a.sets));
  if (sub == "register") return DoRegister(root);  // the only command that may create the registry
  DRIFTRUN_ASSIGN_OR_RETURN(auto reg, Registry::Open(root));
  if (sub == "list") return DoList(*reg, root);
  if (sub == "show") return DoShow(*reg, a);
  if (sub == "promote") return DoPromote(*reg, a, cfg);
  if (sub == "approve") return DoApprove(*reg, a);
  if (sub == "rollback") return DoRollback(*reg, a);
  return DoVerify(*reg, root);
}

}  // namespace

int RunRegistry(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kRegistrySpec, argc, argv, &args, &code)) return code;
  return ReportStatus("registry", Run(args));
}

}  // namespace driftrun
