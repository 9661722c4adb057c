// The promotion policy of a model and the gate as a pure function: given what
// is known about a requested alias move (the candidate, the alias's current
// holder, approvals, the model's stored policy and the two holdout losses),
// decide whether it may happen. No I/O; the registry gathers the facts, stores
// the policy and records the move.
//
// Rules, in order, for a gated alias (Policy::gated, by default "production";
// matched ignoring case and punctuation):
//   1. require_approval and the candidate has no approval (with
//      separate_approver: none by anyone but the promoter): refused.
//   2. With a current holder whose artifacts are intact: a candidate without a
//      holdout loss (NaN) against a holder with one is refused; a candidate whose
//      loss exceeds the holder's by more than `tolerance` (relative) is refused.
// An alias that is not gated moves without these checks. A holder whose own
// artifacts are damaged is replaced without a loss comparison (recorded).
#pragma once

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace driftrun {

struct Policy {
  bool require_approval = false;
  double tolerance = 0.05;  // relative holdout-loss slack against the holder
  std::vector<std::string> gated = {"production"};
  bool separate_approver = false;  // the promoter's own approval does not count

  nlohmann::json ToJson() const;
  // The policy a config's [registry] keys describe (require_approval,
  // tolerance, gated, separate_approver).
  static Policy FromConfig(const Config& cfg);
  // Status::Data naming the field when `j` is not a policy.
  static Result<Policy> FromJson(const nlohmann::json& j);
  // Status::Usage unless tolerance >= 0 and every gated alias is a valid name.
  Status Check() const;
  bool Gates(const std::string& alias) const;
};

// `alias` lowercased with everything but letters and digits removed: two
// aliases with the same canonical form are the same alias to people
// ("Production", "production", "pro-duction").
std::string CanonicalAlias(const std::string& alias);

// The policy's spelling of `alias` when it is a gated alias, else `alias`.
std::string GatedSpelling(const Policy& p, const std::string& alias);

// Whether two version records trained on the same data with the same holdout
// (data fingerprint, data.val, data.val_fraction): then both held out the same
// rows. 1 yes, 0 no, -1 the records do not say.
int SameHoldout(const nlohmann::json& a, const nlohmann::json& b);

// Whether two names of people are the same person: case and whitespace
// ignored ("Ann", " ann"), for approvals and the separate-approver rule.
bool SamePerson(const std::string& a, const std::string& b);

struct PromotionCase {
  std::string name;
  int64_t version = 0;  // the candidate
  std::string alias;
  int64_t holder = 0;  // version the alias points at now; 0: none
  bool holder_damaged = false;
  std::string who;                     // the promoter
  std::vector<std::string> approvers;  // of the candidate
  Policy policy;
  // Rule 2 only: holdout losses (NaN: unknown); fresh_losses: both evaluated on
  // the candidate's holdout rows now, else the losses recorded at registration.
  double candidate_loss = NAN;
  double holder_loss = NAN;
  bool fresh_losses = false;
  // Whether the two versions trained on the same data (their data
  // fingerprints): then both hold out the same rows (dataio/sharding.h), else
  // the holder may have trained on some of the candidate's holdout rows. -1:
  // unknown. Reported in the gate's facts; it does not decide.
  int same_training_data = -1;

  bool Gated() const { return policy.Gates(alias); }
  // Whether rule 2 applies, i.e. whether the caller must fill in the losses.
  bool ComparesLosses() const { return Gated() && holder > 0 && holder != version && !holder_damaged; }
};

// OK when the move may happen; Status::Training ("promotion refused: ...",
// exit 4) saying why and what to do otherwise. *gate receives the facts the
// decision used (losses, tolerance, approvals), recorded with the move.
Status DecidePromotion(const PromotionCase& c, nlohmann::json* gate);

}  // namespace driftrun
