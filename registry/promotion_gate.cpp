#include "registry/promotion_gate.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "common/config.h"
#include "common/text.h"

namespace driftrun {

nlohmann::json Policy::ToJson() const {
  return {{"require_approval", require_approval},
          {"tolerance", tolerance},
          {"gated", gated},
          {"separate_approver", separate_approver}};
}

Policy Policy::FromConfig(const Config& cfg) {
  Policy p;
  p.require_approval = cfg.Bool("registry.require_approval");
  p.tolerance = cfg.Float("registry.tolerance");
  p.gated = cfg.StrList("registry.gated");
  p.separate_approver = cfg.Bool("registry.separate_approver");
  return p;
}

Result<Policy> Policy::FromJson(const nlohmann::json& j) {
  Policy p;
  auto bad = [](const char* f) {
    return Status::Data(std::string("stored policy: field '") + f + "' is invalid");
  };
  if (!j.is_object()) return Status::Data("stored policy is not a JSON object");
  if (j.contains("require_approval")) {
    if (!j["require_approval"].is_boolean()) return bad("require_approval");
    p.require_approval = j["require_approval"].get<bool>();
  }
  if (j.contains("tolerance")) {
    if (!j["tolerance"].is_number()) return bad("tolerance");
    p.tolerance = j["tolerance"].get<double>();
  }
  if (j.contains("gated")) {
    if (!j["gated"].is_array()) return bad("gated");
    p.gated.clear();
    for (const auto& a : j["gated"]) {
      if (!a.is_string()) return bad("gated");
      p.gated.push_back(a.get<std::string>());
    }
  }
  if (j.contains("separate_approver")) {
    if (!j["separate_approver"].is_boolean()) return bad("separate_approver");
    p.separate_approver = j["separate_approver"].get<bool>();
  }
  return p;
}

Status Policy::Check() const {
  if (!(tolerance >= 0) || !std::isfinite(tolerance)) {
    return Status::Usage("tolerance must be a number >= 0 (a share: 0.05 allows 5% worse)");
  }
  for (const auto& a : gated) DRIFTRUN_RETURN_IF_ERROR(ValidateName("gated alias", a));
  return Status::Ok();
}

bool Policy::Gates(const std::string& alias) const {
  const std::string c = CanonicalAlias(alias);
  return std::any_of(gated.begin(), gated.end(),
                     [&](const std::string& g) { return CanonicalAlias(g) == c; });
}

bool SamePerson(const std::string& a, const std::string& b) {
  auto norm = [](const std::string& s) {
    std::string out;
    for (unsigned char ch : s)
      if (!std::isspace(ch)) out += static_cast<char>(std::tolower(ch));
    return out;
  };
  return norm(a) == norm(b);
}

std::string CanonicalAlias(const std::string& alias) {
  std::string out;
  for (unsigned char ch : alias)
    if (std::isalnum(ch)) out += static_cast<char>(std::tolower(ch));
  return out;
}

// The policy's spelling of `alias` when it is a gated alias, else `alias`.
std::string GatedSpelling(const Policy& p, const std::string& alias) {
  for (const auto& g : p.gated)
    if (CanonicalAlias(g) == CanonicalAlias(alias)) return g;
  return alias;
}

// 1 when both versions trained on the same data file with the same holdout
// (data fingerprint, data.val and data.val_fraction): both then held out the
// same rows. 0 when not, -1 when the records do not say.
int SameHoldout(const nlohmann::json& a, const nlohmann::json& b) {
  auto fp = [](const nlohmann::json& r) {
    auto v = r.value("data_fingerprint", nlohmann::json());
    return v.is_string() ? v.get<std::string>() : std::string();
  };
  if (fp(a).empty() || fp(b).empty()) return -1;
  if (fp(a) != fp(b)) return 0;
  auto ca = Config::FromString(a.value("config", std::string()), "record", {});
  auto cb = Config::FromString(b.value("config", std::string()), "record", {});
  if (!ca.ok() || !cb.ok()) return -1;
  return ca.value().Str("data.val") == cb.value().Str("data.val") &&
         ca.value().Float("data.val_fraction") == cb.value().Float("data.val_fraction");
}

Status DecidePromotion(const PromotionCase& c, nlohmann::json* gate) {
  const std::string label = c.name + ":" + std::to_string(c.version);
  *gate = {{"gated", c.Gated()}, {"approvers", c.approvers}};
  if (!c.Gated()) return Status::Ok();
  (*gate)["policy"] = c.policy.ToJson();
  if (c.policy.require_approval) {
    const bool approved = std::any_of(c.approvers.begin(), c.approvers.end(), [&](const std::string& a) {
      return !c.policy.separate_approver || !SamePerson(a, c.who);
    });
    if (!approved) {
      return Status::Training(
          "promotion refused: " + label + " has no approval" +
          (c.policy.separate_approver ? " by anyone but " + c.who + " (the policy's separate_approver)"
                                      : "") +
          " and " + c.name + "'s policy requires one for @" + c.alias + "; run `driftrun registry approve " +
          label + " --by WHO --note TEXT` first (see `driftrun registry policy " + c.name + "`)");
    }
  }
  if (c.holder_damaged) (*gate)["holder_damaged"] = true;
  if (!c.ComparesLosses()) return Status::Ok();
  const double cl = c.candidate_loss, hl = c.holder_loss;
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
  (*gate)["candidate_loss"] = num(cl);
  (*gate)["holder_loss"] = num(hl);
  (*gate)["holder"] = c.holder;
  (*gate)["losses_from"] = c.fresh_losses ? "candidate holdout, evaluated now" : "recorded at registration";
  (*gate)["same_training_data"] =
      c.same_training_data < 0 ? nlohmann::json() : nlohmann::json(c.same_training_data == 1);
  if (std::isnan(cl) && !std::isnan(hl)) {
    return Status::Training("promotion refused: " + label + " has no holdout loss to compare with " + c.name +
                            ":" + std::to_string(c.holder) + " (@" + c.alias + ")");
  }
  if (!std::isnan(cl) && !std::isnan(hl) && cl > hl * (1 + c.policy.tolerance)) {
    const std::string what = FormatDouble(cl) + " is worse than @" + c.alias + " " + c.name + ":" +
                             std::to_string(c.holder) + "'s " + FormatDouble(hl) + " by more than " +
                             FormatDouble(c.policy.tolerance * 100) + "%" +
                             (c.fresh_losses ? " (both on the candidate's holdout)" : " (as recorded)");
    return Status::Training("promotion refused: " + label + "'s holdout loss " + what + " (" + c.name +
                            "'s policy tolerance); retrain, or change the policy deliberately with "
                            "`driftrun registry policy " +
                            c.name + " --tolerance X --by WHO`");
  }
  return Status::Ok();
}

}  // namespace driftrun
