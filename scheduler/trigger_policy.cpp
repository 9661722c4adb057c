#include "scheduler/trigger_policy.h"

#include <algorithm>
#include <cmath>

#include "common/text.h"

namespace driftrun {
namespace {

constexpr double kDay = 24 * 3600.0;

Status Bad(const Config& c, const std::string& key, const std::string& what) {
  return Status::Usage(c.Origin(key) + ": key '" + key + "' " + what);
}

std::string Num(double v) {
  return FormatDouble(std::round(v * 10) / 10);
}

// Rule 4 and 5: a hold, or kNone when neither applies.
TriggerDecision Hold(const TriggerOptions& o, const ModelState& m, TriggerKind kind, double now) {
  TriggerDecision d;
  if (kind == TriggerKind::kDrift && m.last_retrain_end >= 0 && now < m.last_retrain_end + o.cooldown_s) {
    d.action = TriggerAction::kHold;
    d.next_allowed = m.last_retrain_end + o.cooldown_s;
    d.reason = "cooldown: the last retrain ended " + Num(now - m.last_retrain_end) +
               " s ago (trigger.cooldown_s = " + Num(o.cooldown_s) + ")";
    return d;
  }
  std::vector<double> recent;
  for (double t : m.queued_times_24h) {
    if (t > now - kDay) recent.push_back(t);
  }
  if (kind != TriggerKind::kInitial && static_cast<int64_t>(recent.size()) >= o.max_per_day) {
    std::sort(recent.begin(), recent.end());
    d.action = TriggerAction::kHold;
    // The budget frees up when the oldest counted job leaves the 24 h window.
    d.next_allowed = recent.empty() ? now + kDay : recent[recent.size() - o.max_per_day] + kDay;
    d.reason = "daily budget: " + std::to_string(recent.size()) +
               " retrains queued in the last 24 h (trigger.max_per_day = " + std::to_string(o.max_per_day) +
               ")";
  }
  return d;
}

}  // namespace

Result<TriggerOptions> TriggerOptions::FromConfig(const Config& c) {
  TriggerOptions o;
  o.min_rows = c.Int("monitor.min_rows");
  o.consecutive = c.Int("trigger.consecutive");
  o.of = c.Int("trigger.of");
  o.cooldown_s = c.Float("trigger.cooldown_s");
  o.max_per_day = c.Int("trigger.max_per_day");
  o.metric_drop = c.Float("trigger.metric_drop");
  o.priority = c.Int("retrain.priority");
  if (o.min_rows < 1) return Bad(c, "monitor.min_rows", "must be >= 1");
  if (o.consecutive < 1) return Bad(c, "trigger.consecutive", "must be >= 1");
  if (o.of != 0 && o.of < o.consecutive)
    return Bad(
        c, "trigger.of",
        "must be 0 (same as consecutive) or >= trigger.consecutive (" + std::to_string(o.consecutive) + ")");
  if (o.of > 1000) return Bad(c, "trigger.of", "must be <= 1000");
  if (!(o.cooldown_s >= 0 && o.cooldown_s <= 365 * kDay))
    return Bad(c, "trigger.cooldown_s", "must be in [0, 31536000] seconds");
  if (o.max_per_day < 1) return Bad(c, "trigger.max_per_day", "must be >= 1");
  if (!(o.metric_drop > 0 && o.metric_drop <= 100))
    return Bad(c, "trigger.metric_drop", "must be in (0, 100] (a relative rise of the loss)");
  return o;
}

TriggerDecision DecideTrigger(const TriggerOptions& o, const ModelState& m, TriggerKind kind, double now) {
  TriggerDecision d;
  if (kind == TriggerKind::kDrift) {
    std::vector<const ScoredBatch*> counted;
    for (const auto& b : m.pending) {
      if (b.rows >= o.min_rows) counted.push_back(&b);
    }
    const size_t n = std::min<size_t>(counted.size(), static_cast<size_t>(o.window()));
    d.window = static_cast<int64_t>(n);
    for (size_t i = counted.size() - n; i < counted.size(); ++i) {
      if (counted[i]->drifted || counted[i]->concept) {
        ++d.drifted;
        d.batches.push_back(counted[i]->id);
      }
    }
    const std::string tally = std::to_string(d.drifted) + " of the last " + std::to_string(o.window()) +
                              " batches with >= " + std::to_string(o.min_rows) +
                              " rows drifted in data or concept";
    if (d.drifted < o.consecutive) {
      d.batches.clear();
      d.reason = tally + " (trigger.consecutive = " + std::to_string(o.consecutive) + ")";
      return d;
    }
    d.reason = tally;
  } else {
    d.reason = kind == TriggerKind::kSignal ? "manual signal" : "no production version yet";
  }
  if (m.active_job > 0) {
    d.action = TriggerAction::kMerge;
    d.reason +=
        "; merged into job " + std::to_string(m.active_job) + " (one queued or running job per model)";
    return d;
  }
  TriggerDecision hold = Hold(o, m, kind, now);
  if (hold.action == TriggerAction::kHold) {
    // Found by a stranger: the hold did not say when the model may queue again.
    hold.reason = d.reason + "; held by the " + hold.reason + "; it may queue again in " +
                  Num(std::max(0.0, hold.next_allowed - now)) + " s";
    hold.batches = d.batches;
    hold.drifted = d.drifted;
    hold.window = d.window;
    return hold;
  }
  d.action = TriggerAction::kQueue;
  d.reason += "; retrain queued";
  return d;
}

const char* TriggerActionName(TriggerAction a) {
  switch (a) {
    case TriggerAction::kQueue: return "queue";
    case TriggerAction::kMerge: return "merge";
    case TriggerAction::kHold: return "hold";
    case TriggerAction::kNone: break;
  }
  return "none";
}

const char* TriggerKindName(TriggerKind k) {
  switch (k) {
    case TriggerKind::kSignal: return "signal";
    case TriggerKind::kInitial: return "initial";
    case TriggerKind::kDrift: break;
  }
  return "drift";
}

}  // namespace driftrun
