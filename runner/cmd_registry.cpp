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
#include "runner/registry_govern.h"
#include "runner/registry_view.h"
#include "scheduler/register_run.h"
#include "tracking/mlflow_client.h"
#include "tracking/mlflow_export.h"
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
DEFINE_string(tracking_uri, "", "MLflow tracking server");

namespace driftrun {

const CommandSpec kRegistrySpec = {
    "registry",
    "model registry: list, show, register, promote, approve, rollback, policy, history, verify",
    "driftrun registry list [--model NAME] [--json]\n"
    "       driftrun registry show NAME[:VERSION|@ALIAS] [--json]\n"
    "       driftrun registry register --run RUN_DIR [--trigger TEXT]\n"
    "       driftrun registry promote NAME:VERSION --alias production --by WHO [--reason TEXT] [--gate G]\n"
    "       driftrun registry approve NAME:VERSION --by WHO [--note TEXT]\n"
    "       driftrun registry rollback NAME --alias production --by WHO [--reason TEXT]\n"
    "       driftrun registry policy NAME [--require-approval true|false] [--tolerance X] [--gated a,b]\n"
    "                                     [--separate-approver true|false] [--by WHO: needed for a change] "
    "[--reason TEXT]\n"
    "       driftrun registry history NAME [--json]\n"
    "       driftrun registry verify [--json]\n"
    "       driftrun registry export-mlflow --tracking-uri URI [--model NAME] [--json]\n"
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
    "existing version; a run resumed and trained further becomes a new version.\n"
    "   Every model has a promotion policy stored in the registry (set from the config's [registry] keys at "
    "its "
    "first registration, changed only with `registry policy`); every alias move obeys it whatever --config "
    "says. Gated aliases (default production; case and punctuation ignored) need the approvals it requires "
    "and a holdout loss within its tolerance. export-mlflow mirrors versions (source runs:/RUN/model with "
    "the "
    "ONNX file, tags driftrun.version, trigger, verdict, sha256) and the aliases production and candidate "
    "into "
    "an MLflow model registry; a second export adds nothing. Every move verifies the target's artifacts "
    "(exit 3 if "
    "damaged); "
    "promoting the version an alias already holds is a recorded no-op; rollback walks back through the "
    "alias's history",
    {{"registry", "registry folder (registry.db and artifacts/)"},
     {"config",
      "experiment config whose [registry] path applies (its policy keys only at first registration)"},
     {"model", "list: only this model (exit 2 when the registry has none of that name)"},
     {"run", "register: the finished run folder to register (idempotent per run and final checkpoint)"},
     {"trigger", "register: what triggered the run (drift report path, signal id)"},
     {"alias", "promote, rollback: the alias to move (production, candidate, ...)"},
     {"by", "approve: who approves; promote, rollback, policy: who makes the change (required: recorded)"},
     {"require_approval", "policy: whether moving a gated alias needs an approval (true|false)"},
     {"tolerance", "policy: how much worse (a share, 0.05 = 5%) a candidate's holdout loss may be"},
     {"gated", "policy: comma-separated aliases that go through the gate ('none' for no gated alias)"},
     {"separate_approver", "policy: true: the promoter's own approval does not count"},
     {"note", "approve: the approval note"},
     {"reason", "promote, rollback, policy: why (recorded with the change)"},
     {"tracking_uri", "export-mlflow: the MLflow server (default: --config's [mlflow] tracking_uri)"},
     {"gate",
      "promote to production: 'holdout' evaluates the candidate and the production holder on the candidate's "
      "holdout rows (its data.val, else the val_fraction split its training held out); 'recorded' compares "
      "the "
      "holdout losses recorded at registration"},
     {"json", "machine-readable output"}},
    true};

namespace {

Status DoRegister(const std::string& root) {
  if (FLAGS_run.empty()) return Status::Usage("register needs --run RUN_DIR");
  RegisterRunOptions o;
  o.registry = root;
  o.trigger = FLAGS_trigger;
  bool existed = false;
  o.existed = &existed;
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, RegisterRun(FLAGS_run, o));
  if (FLAGS_json) {
    std::cout << JsonOut(v.ToJson());
  } else if (existed) {
    const Artifact* ck = v.Find("checkpoint");
    std::cout << "already registered as " << EscapeForConsole(v.name) << ":" << v.version << " (run "
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
    std::cout << JsonOut(out);
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
  j["alias_history"] = nlohmann::json::array();
  for (const auto& e : history)
    if (e.value("event", "") == "alias") j["alias_history"].push_back(e);
  std::cout << JsonOut(j);
  return Status::Ok();
}

Status DoVerify(Registry& reg, const std::string& root) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto problems, reg.Verify());
  if (FLAGS_json) {
    std::cout << JsonOut({{"ok", problems.empty()}, {"problems", problems}});
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

// Mirrors every model (or --model) into the MLflow registry at --tracking-uri.
Status DoExportMlflow(Registry& reg, const Config& cfg) {
  const std::string uri = FLAGS_tracking_uri.empty() ? cfg.Str("mlflow.tracking_uri") : FLAGS_tracking_uri;
  if (uri.empty())
    return Status::Usage(
        "export-mlflow needs --tracking-uri URI (or a --config whose [mlflow] tracking_uri is set)");
  DRIFTRUN_ASSIGN_OR_RETURN(auto client, MlflowClient::Create(uri));
  std::vector<std::string> models;
  DRIFTRUN_ASSIGN_OR_RETURN(auto all, reg.List(FLAGS_model));
  for (const auto& v : all)
    if (std::find(models.begin(), models.end(), v.name) == models.end()) models.push_back(v.name);
  if (!FLAGS_model.empty() && models.empty())
    return Status::Usage("the registry has no model '" + FLAGS_model + "'");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : models) {
    DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json r, ExportToMlflow(reg, m, *client));
    out.push_back(r);
    if (FLAGS_json) continue;
    std::string created, aliases;
    for (const auto& c : r["created"])
      created += " " + m + ":" + c[0].dump() + "->v" + c[1].get<std::string>();
    for (const auto& [a, v] : r["aliases"].items()) aliases += " " + a + "->v" + v.get<std::string>();
    std::cout << EscapeForConsole(m) << ": " << r["created"].size() << " version(s) created in MLflow"
              << EscapeForConsole(created) << ", " << r["existing"] << " already there; aliases"
              << (aliases.empty() ? " none" : EscapeForConsole(aliases)) << " (" << EscapeForConsole(uri)
              << ")\n";
  }
  if (FLAGS_json) std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return Status::Ok();
}

Status Run(const ParsedArgs& a) {
  const std::vector<std::string> subs = {"list",     "show",   "register", "promote", "approve",
                                         "rollback", "policy", "history",  "verify",  "export-mlflow"};
  if (a.positional.empty()) {
    return Status::Usage(
        "name a registry command: list, show, register, promote, approve, rollback, policy, history, verify, "
        "export-mlflow");
  }
  const std::string sub = a.positional[0];
  if (std::find(subs.begin(), subs.end(), sub) == subs.end()) {
    const std::string near = ClosestMatch(sub, subs, 2);
    return Status::Usage("unknown registry command '" + sub + "'" +
                         (near.empty() ? "" : " (did you mean `" + near + "`?)") +
                         "; use list, show, register, promote, approve, rollback, policy, history, verify or "
                         "export-mlflow");
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
  if (sub == "policy") return DoPolicy(*reg, a, cfg);
  if (sub == "history") return DoHistory(*reg, a);
  if (sub == "export-mlflow") return DoExportMlflow(*reg, cfg);
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
