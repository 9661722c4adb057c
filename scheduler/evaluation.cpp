#include "scheduler/evaluation.h"

#include <cmath>
#include <cstdio>

#include "dataio/h5_io.h"
#include "dataio/sharding.h"
#include "monitor/batch_check.h"
#include "trainers/predict.h"

namespace driftrun {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

std::string Pct(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%+.1f%%", 100 * v);
  return buf;
}

// Both models' losses on the same rows, paired.
Result<Comparison> Compare(const EvaluationInputs& in, const std::vector<HoldoutPart>& parts) {
  Comparison c;
  std::vector<double> d;
  double sum_champ = 0, sum_chal = 0;
  for (const HoldoutPart& part : parts) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<double> chal,
                              RowLosses(*in.challenger, *in.challenger_cfg, part.path, part.rows));
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<double> champ,
                              RowLosses(in.champion->checkpoint, in.champion->config, part.path, part.rows));
    for (size_t i = 0; i < chal.size() && i < champ.size(); ++i) {
      d.push_back(chal[i] - champ[i]);
      sum_chal += chal[i];
      sum_champ += champ[i];
    }
  }
  if (d.empty()) {
    c.skipped = "no rows";
    return c;
  }
  const double n = static_cast<double>(d.size());
  c.done = true;
  c.rows = static_cast<int64_t>(d.size());
  c.champion = sum_champ / n;
  c.challenger = sum_chal / n;
  c.diff = c.challenger - c.champion;
  std::tie(c.lo, c.hi) = BootstrapMeanInterval(d, 1000, 0);
  c.relative = c.champion > 0 ? c.diff / c.champion : 0;
  return c;
}

// The held-out rows of labelled batch files (data.val_fraction's split).
Result<std::vector<HoldoutPart>> WindowParts(const EvaluationInputs& in,
                                             const std::vector<std::string>& files) {
  std::vector<HoldoutPart> parts;
  const double frac = in.challenger_cfg->Float("data.val_fraction");
  for (const std::string& f : files) {
    DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::Open(f));
    DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo info, r->Info(in.challenger_cfg->Str("data.labels")));
    HoldoutPart p{f, SplitTrainVal(info.rows(), frac).val};
    if (!p.rows.empty()) parts.push_back(std::move(p));
  }
  return parts;
}

// Production's mean loss on every row of the batches since the drift (it
// trained on none of them): the concept bar if this job is rejected, over
// many more rows than their held-out share.
Status ProductionOnAllRows(const EvaluationInputs& in, Verdict* v) {
  double sum = 0;
  int64_t n = 0;
  for (const std::string& f : in.reference_batches) {
    DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::Open(f));
    DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo info, r->Info(in.challenger_cfg->Str("data.labels")));
    std::vector<int64_t> rows(static_cast<size_t>(info.rows()));
    for (int64_t i = 0; i < info.rows(); ++i) rows[static_cast<size_t>(i)] = i;
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<double> l,
                              RowLosses(in.champion->checkpoint, in.champion->config, f, rows));
    for (double x : l) sum += x;
    n += static_cast<int64_t>(l.size());
  }
  if (n > 0) {
    v->production_since_drift_loss = sum / static_cast<double>(n);
    v->production_since_drift_rows = n;
  }
  return Status::Ok();
}

std::string Describe(const char* what, const Comparison& c) {
  return std::string(what) + ": challenger " + Num(c.challenger) + " vs champion " + Num(c.champion) + " (" +
         Pct(c.relative) + ", difference 95% interval [" + Num(c.lo) + ", " + Num(c.hi) + "], " +
         std::to_string(c.rows) + " rows)";
}

}  // namespace

nlohmann::json Comparison::ToJson() const {
  if (!done) return {{"done", false}, {"skipped", skipped}};
  return {{"done", true},
          {"rows", rows},
          {"champion_loss", champion},
          {"challenger_loss", challenger},
          {"difference", diff},
          {"lo", lo},
          {"hi", hi},
          {"relative", relative}};
}

nlohmann::json Verdict::ToJson() const {
  return {{"promote", promote},
          {"reason", reason},
          {"champion", champion},
          {"tolerance", tolerance},
          {"holdout_ok", holdout_ok},
          {"no_gain_since_drift", no_gain_since_drift},
          {"holdout", holdout.ToJson()},
          {"drifted_window", window.ToJson()},
          {"since_drift", since_drift.ToJson()},
          {"production_since_drift",
           production_since_drift_rows > 0
               ? nlohmann::json{{"loss", production_since_drift_loss}, {"rows", production_since_drift_rows}}
               : nlohmann::json()}};
}

void Decide(Verdict* v) {
  if (v->champion == 0) {
    v->promote = true;
    v->reason = "first model: no production version to compare against";
    return;
  }
  std::string why = Describe("holdout", v->holdout);
  const bool holdout_ok =
      v->holdout.done && v->holdout.challenger <= v->holdout.champion * (1 + v->tolerance);
  v->holdout_ok = holdout_ok;
  // Even at best (the lower end of its interval) the challenger gains less
  // than the tolerance since the drift: a wide interval (too few rows to
  // tell) does not count.
  v->no_gain_since_drift =
      v->since_drift.done && v->since_drift.lo >= -v->tolerance * v->since_drift.champion;
  if (!v->holdout.done) {
    v->promote = false;
    v->reason = "not promoted: the challenger's holdout has no rows to compare on";
    return;
  }
  if (!holdout_ok) {
    v->promote = false;
    v->reason = "not promoted: worse than production on the holdout by more than the tolerance " +
                Pct(v->tolerance) + "; " + why;
    return;
  }
  if (v->window_empty) {
    // Found by a stranger: a retrain on exactly production's data replaced
    // it with an identical model, "no worse on the holdout".
    v->promote = v->holdout.hi < 0;
    v->reason = std::string(v->promote ? "promoted: better on the holdout beyond chance"
                                       : "not promoted: not clearly better than production on the holdout "
                                         "(the difference's 95% interval reaches zero)") +
                ", the only evidence: the training window has no labelled batches, nothing production did "
                "not train on; " +
                why;
    return;
  }
  if (!v->window.done) {
    v->promote = true;
    v->reason = "promoted: no worse on the holdout (within " + Pct(v->tolerance) + "); " + why +
                "; drifted window skipped (" + v->window.skipped + ")";
    return;
  }
  // Better beyond chance (an unattended service must not swap production for
  // a challenger whose gain is noise): on the batches since the drift (the
  // current regime; the window's older batches may be of another), or on the
  // whole window while not worse beyond chance since the drift (the batches
  // since the drift are few rows: alone they would miss real gains).
  const bool since = v->since_drift.done;
  const bool since_better = since && v->since_drift.hi < 0;
  const bool window_better = v->window.hi < 0 && !(since && v->since_drift.lo > 0);
  std::string numbers = Describe("drifted window", v->window);
  if (since) numbers = Describe("batches since the drift", v->since_drift) + "; " + numbers;
  v->promote = since_better || window_better;
  const bool some_gain = (since && v->since_drift.diff < 0) || v->window.diff < 0;
  const std::string where = since_better    ? "the batches since the drift"
                            : window_better ? "the drifted window"
                            : since         ? "the batches since the drift or the drifted window"
                                            : "the drifted window";
  v->reason = (v->promote ? "promoted: better on " + where + " and no worse on the holdout; "
               : since && v->since_drift.lo > 0
                   ? "not promoted: worse than production on the batches since the drift; "
               : some_gain ? "not promoted: not clearly better than production on " + where +
                                 " (the difference's 95% interval reaches zero); "
                           : "not promoted: not better than production on " + where + "; ") +
              numbers + "; " + why;
}

Result<Verdict> Evaluate(const EvaluationInputs& in) {
  Verdict v;
  v.tolerance = in.tolerance;
  v.champion = in.champion ? in.champion->version : 0;
  if (v.champion == 0) {
    v.holdout.skipped = v.window.skipped = v.since_drift.skipped = "no champion";
    Decide(&v);
    return v;
  }
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<HoldoutPart> parts, HoldoutRows(*in.challenger_cfg));
  DRIFTRUN_ASSIGN_OR_RETURN(v.holdout, Compare(in, parts));
  if (in.window_batches.empty()) {
    v.window.skipped = "the training window has no labelled batches";
    v.window_empty = true;
  } else if (!in.challenger_cfg->Str("data.val").empty()) {
    v.window.skipped = "data.val is set: the window's batches were trained on in full";
  } else {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<HoldoutPart> win, WindowParts(in, in.window_batches));
    DRIFTRUN_ASSIGN_OR_RETURN(v.window, Compare(in, win));
    if (!v.window.done) v.window.skipped = "the window's batches have no held-out rows (data.val_fraction)";
    if (in.reference_batches.empty()) {
      v.since_drift.skipped = "no reference batches";
    } else {
      DRIFTRUN_ASSIGN_OR_RETURN(std::vector<HoldoutPart> since, WindowParts(in, in.reference_batches));
      DRIFTRUN_ASSIGN_OR_RETURN(v.since_drift, Compare(in, since));
      DRIFTRUN_RETURN_IF_ERROR(ProductionOnAllRows(in, &v));
    }
  }
  if (v.since_drift.skipped.empty() && !v.since_drift.done) v.since_drift.skipped = v.window.skipped;
  Decide(&v);
  return v;
}

}  // namespace driftrun
