#include "runner/registry_govern.h"

#include <gflags/gflags.h>

#include <iostream>
#include <sstream>

#include "common/text.h"
#include "registry/model_source.h"
#include "registry/promotion_gate.h"
#include "runner/registry_view.h"
#include "trainers/predict.h"

DECLARE_string(alias);
DECLARE_string(by);
DECLARE_string(note);
DECLARE_string(reason);
DECLARE_string(gate);
DECLARE_bool(json);
DEFINE_string(require_approval, "", "policy: true|false");
DEFINE_string(tolerance, "", "policy: relative holdout-loss slack");
DEFINE_string(gated, "", "policy: comma-separated gated aliases");
DEFINE_string(separate_approver, "", "policy: true|false");

namespace driftrun {
namespace {

// --by, trimmed; Status::Usage when it is empty or blank.
Status NeedBy(const char* what) {
  const size_t b = FLAGS_by.find_first_not_of(" \t\r\n"), e = FLAGS_by.find_last_not_of(" \t\r\n");
  FLAGS_by = b == std::string::npos ? "" : FLAGS_by.substr(b, e - b + 1);
  if (!FLAGS_by.empty()) return Status::Ok();
  return Status::Usage(std::string(what) + " needs --by WHO: the registry records who made every change");
}

// Policy keys in --config/--set do not apply to an existing model: say so
// where they differ from the stored policy.
void WarnIgnoredPolicyKeys(const Config& cfg, const std::string& name, const Policy& stored) {
  const nlohmann::json a = Policy::FromConfig(cfg).ToJson(), b = stored.ToJson();
  for (const auto& [k, v] : a.items()) {
    const std::string key = "registry." + k;
    if (cfg.Origin(key) == "default" || b[k] == v) continue;
    std::cerr << "driftrun registry: warning: " << key << " from " << EscapeForConsole(cfg.Origin(key))
              << " is ignored: the policy stored for " << EscapeForConsole(name)
              << " applies (`driftrun registry "
              << "policy " << EscapeForConsole(name) << "` shows it; its flags change it)\n";
  }
}

// --gated: comma-separated aliases, or "none" for no gated alias.
Result<std::vector<std::string>> ParseGated(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  for (std::string g; std::getline(ss, g, ',');) {
    const size_t b = g.find_first_not_of(' '), e = g.find_last_not_of(' ');
    if (b == std::string::npos) continue;
    out.push_back(g.substr(b, e - b + 1));
  }
  if (out.size() == 1 && CanonicalAlias(out[0]) == "none") return std::vector<std::string>{};
  if (out.empty()) return Status::Usage("--gated: name the gated aliases (a,b) or 'none'");
  for (size_t i = 0; i < out.size(); ++i) {
    if (CanonicalAlias(out[i]) == "none")
      return Status::Usage("--gated: 'none' cannot be combined with aliases");
    for (size_t j = 0; j < i; ++j) {
      if (CanonicalAlias(out[i]) == CanonicalAlias(out[j]))
        return Status::Usage("--gated names '" + out[j] + "' twice (as '" + out[i] + "')");
    }
  }
  return out;
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
    return p.status().WithContext("evaluating the alias's holder on the candidate's holdout" + hint);
  return std::make_pair(c.value(), p.value());
}

// " (gate: ...)" for the promote line: the numbers the decision used.
std::string GateText(const nlohmann::json& g) {
  if (!g.value("gated", false)) return " (not a gated alias: no approval or loss check)";
  if (g.value("holder_damaged", false))
    return " (the holder has no readable record: replaced without a loss check)";
  if (!g.contains("candidate_loss")) return " (gated: no holder to compare with)";
  auto num = [](const nlohmann::json& v) { return v.is_number() ? FormatDouble(v.get<double>()) : "none"; };
  return " (gate: holdout loss " + num(g["candidate_loss"]) + " vs " + std::to_string(g.value("holder", 0)) +
         "'s " + num(g["holder_loss"]) + ", tolerance " +
         FormatDouble(g["policy"].value("tolerance", 0.0) * 100) + "%, " + g.value("losses_from", "") + ")" +
         (g.contains("same_training_data") && g["same_training_data"] == false
              ? "; note: the two versions trained on different data, so the "
                "holder may have seen some of these holdout rows"
              : "");
}

Result<bool> ParseBool(const std::string& flag, const std::string& v) {
  if (v == "true") return true;
  if (v == "false") return false;
  return Status::Usage("--" + flag + " must be true or false, not '" + v + "'");
}

std::string PolicyText(const std::string& name, const Policy& p) {
  std::string gated;
  for (const auto& g : p.gated) gated += (gated.empty() ? "" : ",") + g;
  return "policy of " + EscapeForConsole(name) +
         ":\n  gated aliases:     " + (gated.empty() ? "(none)" : EscapeForConsole(gated)) +
         "\n  require approval:  " + (p.require_approval ? "yes" : "no") +
         "\n  separate approver: " + (p.separate_approver ? "yes" : "no") +
         "\n  tolerance:         " + FormatDouble(p.tolerance) + " (holdout loss may be this share worse)\n";
}

}  // namespace

Result<ModelRef> VersionArg(const ParsedArgs& a, bool need_version) {
  if (a.positional.size() < 2) return Status::Usage("name the model: NAME:VERSION");
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, ParseModelRef(a.positional[1]));
  if (need_version && r.version == 0) {
    return Status::Usage("'" + a.positional[1] + "': name a version, e.g. " + r.name + ":3");
  }
  return r;
}

std::string JsonOut(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Status DoPromote(Registry& reg, const ParsedArgs& a, const Config& cfg) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, VersionArg(a, true));
  if (FLAGS_alias.empty()) return Status::Usage("promote needs --alias (e.g. --alias production)");
  DRIFTRUN_RETURN_IF_ERROR(NeedBy("promote"));
  if (FLAGS_gate != "holdout" && FLAGS_gate != "recorded") {
    return Status::Usage("--gate must be holdout or recorded, not '" + FLAGS_gate + "'");
  }
  for (const char* k :
       {"registry.require_approval", "registry.tolerance", "registry.gated", "registry.separate_approver"}) {
    if (cfg.Origin(k) != "default") {
      std::cerr << "driftrun registry: warning: " << k << " from " << EscapeForConsole(cfg.Origin(k))
                << " is ignored: the policy stored for " << EscapeForConsole(r.name)
                << " applies (`driftrun registry policy " << EscapeForConsole(r.name)
                << "` shows and changes it)\n";
    }
  }
  PromoteOptions o;
  o.who = FLAGS_by;
  o.why = FLAGS_reason.empty() ? "promote" : FLAGS_reason;
  if (FLAGS_gate == "holdout") o.compare = HoldoutCompare;
  DRIFTRUN_ASSIGN_OR_RETURN(PromoteResult res, reg.Promote(r.name, r.version, FLAGS_alias, o));
  const std::string label = EscapeForConsole(r.name) + "@" + EscapeForConsole(FLAGS_alias);
  const nlohmann::json damaged = res.gate.value("damaged", nlohmann::json::array());
  if (res.noop && damaged.is_array() && !damaged.empty()) {
    std::string what;
    for (const auto& d : damaged)
      what += (what.empty() ? "" : "; ") + (d.is_string() ? d.get<std::string>() : d.dump());
    std::cerr << "driftrun registry: warning: " << label << " holds version " << r.version
              << ", whose artifacts are damaged (" << EscapeForConsole(what)
              << "); move the alias to a sound version (`driftrun registry verify` lists the damage)\n";
  }
  if (FLAGS_json) {
    std::cout << JsonOut({{"name", r.name},
                          {"alias", FLAGS_alias},
                          {"version", r.version},
                          {"previous", res.holder},
                          {"noop", res.noop},
                          {"gate", res.gate}});
  } else if (res.noop) {
    std::cout << label << " already holds version " << r.version << "; nothing moved (recorded)\n";
  } else {
    std::cout << label << " -> version " << r.version << GateText(res.gate) << "\n";
  }
  return Status::Ok();
}

Status DoApprove(Registry& reg, const ParsedArgs& a) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, VersionArg(a, true));
  DRIFTRUN_RETURN_IF_ERROR(NeedBy("approve"));
  DRIFTRUN_ASSIGN_OR_RETURN(bool added, reg.Approve(r.name, r.version, FLAGS_by, FLAGS_note));
  std::string who = FLAGS_by, same;  // the name as first approved, when spelled otherwise now
  if (!added) {
    auto v = reg.Get(r);
    if (v.ok()) {
      for (const auto& ap : v.value().approvals) {
        const std::string by = ap.value("by", "");
        if (SamePerson(by, FLAGS_by) && by != FLAGS_by) {
          who = by;
          same = "; names match without case or spaces";
        }
      }
    }
  }
  std::cout << (added ? "approved " : "already approved: ") << EscapeForConsole(r.name) << ":" << r.version
            << " by " << EscapeForConsole(who) << (added ? "" : " (one approval per person" + same + ")")
            << "\n";
  return Status::Ok();
}

Status DoRollback(Registry& reg, const ParsedArgs& a) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef r, VersionArg(a, false));
  if (FLAGS_alias.empty()) return Status::Usage("rollback needs --alias (e.g. --alias production)");
  DRIFTRUN_RETURN_IF_ERROR(NeedBy("rollback"));
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t v, reg.Rollback(r.name, FLAGS_alias, FLAGS_by, FLAGS_reason));
  std::cout << EscapeForConsole(r.name) << "@" << EscapeForConsole(FLAGS_alias) << " rolled back to version "
            << v
            << " (artifacts verified; no approval or loss gate: a rollback returns to an earlier holder)\n";
  return Status::Ok();
}

Status DoPolicy(Registry& reg, const ParsedArgs& a, const Config& cfg) {
  if (a.positional.size() < 2) return Status::Usage("name the model: registry policy NAME");
  const std::string name = a.positional[1];
  DRIFTRUN_RETURN_IF_ERROR(ValidateName("model name", name));
  DRIFTRUN_ASSIGN_OR_RETURN(Policy p, reg.GetPolicy(name));
  WarnIgnoredPolicyKeys(cfg, name, p);
  const bool change = !FLAGS_require_approval.empty() || !FLAGS_tolerance.empty() || !FLAGS_gated.empty() ||
                      !FLAGS_separate_approver.empty();
  if (change) {
    DRIFTRUN_RETURN_IF_ERROR(NeedBy("policy"));
    if (!FLAGS_require_approval.empty()) {
      DRIFTRUN_ASSIGN_OR_RETURN(p.require_approval, ParseBool("require-approval", FLAGS_require_approval));
    }
    if (!FLAGS_separate_approver.empty()) {
      DRIFTRUN_ASSIGN_OR_RETURN(p.separate_approver, ParseBool("separate-approver", FLAGS_separate_approver));
    }
    if (!FLAGS_tolerance.empty()) {
      char* end = nullptr;
      p.tolerance = std::strtod(FLAGS_tolerance.c_str(), &end);
      if (end == FLAGS_tolerance.c_str() || *end) return Status::Usage("--tolerance must be a number");
    }
    if (!FLAGS_gated.empty()) {
      DRIFTRUN_ASSIGN_OR_RETURN(p.gated, ParseGated(FLAGS_gated));
    }
    DRIFTRUN_RETURN_IF_ERROR(reg.SetPolicy(name, p, FLAGS_by, FLAGS_reason));
  }
  std::cout << (FLAGS_json ? JsonOut(p.ToJson()) : PolicyText(name, p));
  return Status::Ok();
}

Status DoHistory(Registry& reg, const ParsedArgs& a) {
  if (a.positional.size() < 2) return Status::Usage("name the model: registry history NAME");
  DRIFTRUN_RETURN_IF_ERROR(ValidateName("model name", a.positional[1]));
  DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json h, reg.History(a.positional[1]));
  std::cout << (FLAGS_json ? JsonOut(h) : HistoryText(h));
  return Status::Ok();
}

}  // namespace driftrun
