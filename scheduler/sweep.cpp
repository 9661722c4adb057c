#include "scheduler/sweep.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "common/file_util.h"
#include "common/toml_json.h"

namespace driftrun {
namespace {

struct Axis {
  std::string key;
  std::vector<std::string> sets;
};

void AddValue(const Axis& a, size_t i, SweepTrial* t) {
  t->sets.push_back(a.sets[i]);
  const std::string literal = a.sets[i].substr(a.key.size() + 1);
  // As TOML wrote it: numbers, bools, strings and lists as JSON (found by a
  // stranger: a list of paths came out as the string "['/a.h5']").
  nlohmann::json v = nlohmann::json::parse(TomlValueAsJson(literal), nullptr, false);
  t->params[a.key] = v.is_discarded() ? nlohmann::json(literal) : v;
}

// The value at position at[a] of each key a.
SweepTrial Combination(const std::vector<Axis>& axes, int index, const std::vector<size_t>& at) {
  SweepTrial t;
  t.index = index;
  for (size_t a = 0; a < axes.size(); ++a) AddValue(axes[a], at[a], &t);
  return t;
}

// Grid combination number `pick` (the last key varies fastest).
std::vector<size_t> GridPositions(const std::vector<Axis>& axes, int64_t pick) {
  std::vector<size_t> at(axes.size());
  for (size_t a = axes.size(); a-- > 0;) {
    at[a] = static_cast<size_t>(pick % static_cast<int64_t>(axes[a].sets.size()));
    pick /= static_cast<int64_t>(axes[a].sets.size());
  }
  return at;
}

// n distinct combinations, a pure function of the seed: one value per key
// per draw; a draw seen before is drawn again.
std::vector<std::vector<size_t>> DistinctDraws(int64_t n, int64_t seed, const std::vector<Axis>& axes) {
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::set<std::vector<size_t>> seen;
  std::vector<std::vector<size_t>> out;
  while (static_cast<int64_t>(out.size()) < n) {
    std::vector<size_t> at;
    for (const Axis& a : axes) at.push_back(static_cast<size_t>(rng() % a.sets.size()));
    if (seen.insert(at).second) out.push_back(at);
  }
  return out;
}

nlohmann::json LastLine(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return nullptr;
  std::istringstream in(text.value());
  std::string line;
  nlohmann::json last;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) last = j;
  }
  return last;
}

// The last attempt's event in slurm/attempts.jsonl (null when none).
nlohmann::json LastAttemptEvent(const std::string& run_dir) {
  return LastLine(run_dir + "/slurm/attempts.jsonl");
}

TrialStatus ReadTrial(const std::string& run_dir, const nlohmann::json& spec) {
  TrialStatus t;
  t.index = spec.value("index", 0);
  t.params = spec.value("params", nlohmann::json::object());
  t.run_dir = run_dir;
  t.val_loss = t.val_metric = std::numeric_limits<double>::quiet_NaN();
  auto text = ReadFile(run_dir + "/summary.json");
  const nlohmann::json sum =
      text.ok() ? nlohmann::json::parse(text.value(), nullptr, false) : nlohmann::json();
  const nlohmann::json last = LastAttemptEvent(run_dir);
  const nlohmann::json metrics = LastLine(run_dir + "/metrics.jsonl");
  if (metrics.is_object()) {
    t.step = metrics.value("step", int64_t{0});
    // Found by a stranger: a running or stopped trial showed no loss, although its epochs had one.
    if (metrics.contains("val_loss") && metrics["val_loss"].is_number())
      t.val_loss = metrics["val_loss"].get<double>();
  }
  if (text.ok() && !sum.is_object()) {  // never guess a damaged result's state
    t.state = "damaged";
    t.reason = run_dir +
               "/summary.json is not valid JSON: continue the trial to write it again (driftrun submit "
               "--config " +
               run_dir + "/slurm/config.toml --run-dir " + run_dir + ")";
  } else if (sum.is_object() && sum.value("status", "") == "done") {
    t.state = "done";
    t.step = sum.value("steps", t.step);
    if (sum["val_loss"].is_number()) t.val_loss = sum["val_loss"].get<double>();
    if (sum["val_metric"].is_number()) t.val_metric = sum["val_metric"].get<double>();
    t.metric_name = sum.value("val_metric_name", "");
  } else if (!last.is_object()) {
    t.state = "pending";
  } else if (last.value("event", "") == "start") {
    t.state = "running";
  } else if (last.value("cause", "") == "failed" || last.value("cause", "") == "refused") {
    t.state = "failed";
    t.reason = "exit " + std::to_string(last.value("exit", 0)) + "; log in " + run_dir + "/slurm/logs";
  } else {
    t.state = "stopped";  // at a checkpoint: requeued, preempted, or stopped by hand
    t.reason = last.value("cause", "");
    // The checkpoint's step (metrics.jsonl has a row per epoch only).
    if (last.contains("step") && last["step"].is_number_integer()) t.step = last["step"].get<int64_t>();
    if (t.reason == "time_limit" && !last.value("requeued", true)) {
      t.reason =
          "time limit reached again after slurm.max_requeues requeues, not requeued: continue it with "
          "a longer --time (driftrun submit --config " +
          run_dir + "/slurm/config.toml --run-dir " + run_dir + " --time ...)";
    }
  }
  return t;
}

}  // namespace

Result<std::vector<SweepTrial>> ExpandSweep(const Config& cfg) {
  std::vector<Axis> axes;
  const auto& entries = cfg.StrList("sweep.params");
  // Paths in the entries are relative to the config file's folder ("FILE:LINE").
  const std::string origin = cfg.Origin("sweep.params");
  const size_t colon = origin.rfind(':');
  const std::string base = origin == "default" || origin.rfind("--set", 0) == 0 || colon == std::string::npos
                               ? "."
                               : DirName(origin.substr(0, colon));
  for (size_t i = 0; i < entries.size(); ++i) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<std::string> sets,
                              SweepOverrides(entries[i], "sweep.params[" + std::to_string(i) + "]", base));
    const std::string key = sets[0].substr(0, sets[0].find('='));
    for (const Axis& a : axes) {
      if (a.key == key) return Status::Usage("sweep.params names '" + key + "' twice: give its values once");
    }
    std::set<std::string> values;
    for (const std::string& set : sets) {
      if (values.insert(set).second) continue;
      return Status::Usage("sweep.params[" + std::to_string(i) + "] gives " + key + " the value " +
                           set.substr(key.size() + 1) +
                           " twice: its trials would be the same run twice; list each value once");
    }
    axes.push_back({key, sets});
  }
  std::vector<SweepTrial> trials;
  if (axes.empty()) return trials;
  // The grid's size, saturating: past kMaxSweepTrials only "larger" matters.
  int64_t total = 1;
  for (const Axis& a : axes)
    total = std::min<int64_t>(total * static_cast<int64_t>(a.sets.size()), kMaxSweepTrials + 1);
  std::vector<std::vector<size_t>> picks;
  if (cfg.Str("sweep.method") == "random") {
    const int64_t n = cfg.Int("sweep.trials");
    if (n < 1 || n > kMaxSweepTrials)
      return Status::Usage("sweep.trials = " + std::to_string(n) + ": give 1.." +
                           std::to_string(kMaxSweepTrials));
    if (n > total) {
      return Status::Usage("sweep.trials = " + std::to_string(n) + " is more than the " +
                           std::to_string(total) +
                           " combinations of sweep.params: a random sweep never runs one twice; use "
                           "sweep.method = \"grid\" to run them all");
    }
    picks = DistinctDraws(n, cfg.Int("sweep.seed"), axes);
  } else {
    if (total > kMaxSweepTrials) {
      return Status::Usage("the grid of sweep.params has more than " + std::to_string(kMaxSweepTrials) +
                           " combinations: use sweep.method = \"random\" with sweep.trials, or fewer values");
    }
    for (int64_t i = 0; i < total; ++i) picks.push_back(GridPositions(axes, i));
  }
  for (size_t t = 0; t < picks.size(); ++t)
    trials.push_back(Combination(axes, static_cast<int>(t), picks[t]));
  return trials;
}

Result<std::vector<TrialStatus>> ReadSweep(const std::string& dir) {
  if (!IsDir(dir))
    return Status::Usage(PathExists(dir) ? "'" + dir +
                                               "' is a file, not a sweep folder; give the folder `driftrun "
                                               "submit` printed for a config with [sweep] params"
                                         : "sweep folder '" + dir + "' does not exist");
  auto text = ReadFile(dir + "/sweep.json");
  if (!text.ok()) {
    const bool run = PathExists(dir + "/summary.json") || PathExists(dir + "/config.resolved.toml");
    return Status::Usage("'" + dir + "' is not a sweep folder (no sweep.json" +
                         (run ? "; it is a single run: see its summary.json" : "") +
                         "); give the folder `driftrun submit` printed for a config with [sweep] params");
  }
  const nlohmann::json s = nlohmann::json::parse(text.value(), nullptr, false);
  if (s.is_discarded()) return Status::Data("'" + dir + "/sweep.json' is damaged (not valid JSON)");
  if (!s.is_object() || !s.contains("trials") || !s["trials"].is_array())
    return Status::Data("'" + dir + "/sweep.json' is damaged (no trials list)");
  std::vector<TrialStatus> out;
  for (const auto& t : s["trials"]) {
    if (!t.is_object()) return Status::Data("'" + dir + "/sweep.json' is damaged (a trial is not an object)");
    out.push_back(ReadTrial(dir + "/trial-" + std::to_string(t.value("index", 0)), t));
  }
  return out;
}

std::vector<TrialStatus> RankTrials(const std::vector<TrialStatus>& trials) {
  std::vector<TrialStatus> done;
  for (const auto& t : trials) {
    if (t.state == "done" && std::isfinite(t.val_loss)) done.push_back(t);
  }
  std::stable_sort(done.begin(), done.end(),
                   [](const TrialStatus& a, const TrialStatus& b) { return a.val_loss < b.val_loss; });
  return done;
}

nlohmann::json TrialJson(const TrialStatus& t) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  return {{"index", t.index},
          {"state", t.state},
          {"params", t.params},
          {"step", t.step},
          {"val_loss", num(t.val_loss)},
          {"val_metric", num(t.val_metric)},
          {"val_metric_name", t.metric_name},
          {"run_dir", t.run_dir},
          {"reason", t.reason}};
}

}  // namespace driftrun
