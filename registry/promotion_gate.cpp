#include "registry/promotion_gate.h"

#include <cstdio>

#include "common/text.h"

namespace driftrun {

Status DecidePromotion(const PromotionCase& c, std::string* note) {
  note->clear();
  const std::string label = c.name + ":" + std::to_string(c.version);
  if (c.require_approval && !c.approved) {
    return Status::Training("promotion refused: " + label +
                            " has no approval and [registry] require_approval = true; run `driftrun registry "
                            "approve " +
                            label + " --by WHO --note TEXT` first");
  }
  if (!c.ComparesLosses()) return Status::Ok();
  const double cl = c.candidate_loss, hl = c.holder_loss;
  // Recorded with the alias move: shortest round-trip, so the losses read back exactly.
  *note = " (holdout loss " + FormatDouble(cl) + " vs " + std::to_string(c.holder) + "'s " +
          FormatDouble(hl) + (c.fresh_losses ? ", both on the candidate's holdout)" : ", as recorded)");
  if (std::isnan(cl) && !std::isnan(hl)) {
    return Status::Training("promotion refused: " + label + " has no holdout loss to compare with " + c.name +
                            ":" + std::to_string(c.holder) + " (production)");
  }
  if (!std::isnan(cl) && !std::isnan(hl) && cl > hl * (1 + c.tolerance)) {
    char buf[256];
    std::snprintf(buf, sizeof(buf), "%.6g is worse than production %s:%lld's %.6g by more than %.3g%%%s", cl,
                  c.name.c_str(), static_cast<long long>(c.holder), hl, c.tolerance * 100,
                  c.fresh_losses ? " (both on the candidate's holdout)" : " (as recorded)");
    return Status::Training("promotion refused: " + label + "'s holdout loss " + buf +
                            " ([registry] tolerance); retrain, or raise the tolerance deliberately");
  }
  return Status::Ok();
}

}  // namespace driftrun
