// The promotion gate as a pure function: given what is known about a requested
// alias move (the candidate, the alias's current holder, approvals, policy and
// the two holdout losses), decide whether it may happen. No I/O; the registry
// gathers the facts and records the move.
//
// Rules, in order:
//   1. require_approval and the candidate has no approval: refused.
//   2. The alias already points at the candidate: allowed, nothing to move.
//   3. Only for alias "production" with a current holder: a candidate without a
//      holdout loss (NaN) against a holder with one is refused; a candidate whose
//      loss exceeds the holder's by more than `tolerance` (relative) is refused.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace driftrun {

struct PromotionCase {
  std::string name;
  int64_t version = 0;  // the candidate
  std::string alias;
  int64_t holder = 0;  // version the alias points at now; 0: none
  bool approved = false;
  bool require_approval = false;
  double tolerance = 0.05;
  // Rule 3 only: holdout losses (NaN: unknown); fresh_losses: both evaluated on
  // the candidate's holdout rows now, else the losses recorded at registration.
  double candidate_loss = NAN;
  double holder_loss = NAN;
  bool fresh_losses = false;

  // Whether rule 3 applies, i.e. whether the caller must fill in the losses.
  bool ComparesLosses() const { return alias == "production" && holder > 0 && holder != version; }
};

// OK when the move may happen; Status::Training ("promotion refused: ...",
// exit 4) saying why and what to do otherwise. *note receives the loss
// comparison for the audit trail (" (holdout loss A vs V's B, ...)") when rule 3
// applied, else "".
Status DecidePromotion(const PromotionCase& c, std::string* note);

}  // namespace driftrun
