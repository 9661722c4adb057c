#include "scheduler/job_window.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "common/file_util.h"
#include "common/json_get.h"
#include "common/text.h"
#include "scheduler/batch_score.h"

namespace driftrun {
namespace {

std::string TomlString(const std::string& s) {
  return nlohmann::json(s).dump();  // a JSON string is a TOML basic string
}

// The file a job trains a scored batch from: the service's kept copy, else
// (a journal from before copies were kept, or none could be made) the file
// itself. Status (with the reason, for the job's left_out) when the batch was
// removed from the incoming folder (the user's way to leave it out: a batch
// that a later file replaced at its path stays) or its content is no longer
// what was scored.
Result<std::string> WindowFile(const std::string& state, const BatchRecord& b, bool replaced) {
  if (!replaced && !PathExists(b.file)) return Status::Data("removed from the incoming folder");
  return ScoredData(state, b);
}

// A file that still holds batch `b`'s bytes when its own file and kept copy
// do not: a duplicate of it under another name ("" when none). Found by a
// stranger: a batch renamed in the incoming folder was left out as removed,
// and its new name, a duplicate, never trained: the data was lost.
Result<std::string> SurvivingCopy(Journal& jn, const BatchRecord& b) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<std::string> files, jn.FilesWithSha(b.model, b.sha256));
  for (const std::string& f : files) {
    if (f != b.file && PathExists(f) && HoldsBytes(f, b.sha256)) return f;
  }
  return std::string();
}

// The file job `j` trains batch `b` from (Status::Data with the reason when
// it is left out): its kept copy or file, else a copy under another name
// that still holds its bytes, linked in as its kept copy again (so that a
// later rename or edit of that copy changes nothing the job reads).
Result<std::string> WindowSource(ServiceContext& ctx, const ModelEntry& m, const JobRecord& j,
                                 const BatchRecord& b) {
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t latest, ctx.journal->LatestBatchAt(m.name, b.file));
  auto source = WindowFile(ctx.setup->state, b, latest > b.id);
  if (source.ok() || source.status().code() != Code::kData) return source;
  DRIFTRUN_ASSIGN_OR_RETURN(std::string copy, SurvivingCopy(*ctx.journal, b));
  if (copy.empty()) return source;
  std::string from = copy;
  const std::string kept = KeptBatchPath(ctx.setup->state, b);
  std::remove(kept.c_str());  // an edit in place through the hard link changed it
  if (MakeDirs(DirName(kept)).ok() && LinkOrCopyFile(copy, kept).ok() && HoldsBytes(kept, b.sha256))
    from = kept;
  if (ctx.say)
    ctx.say("job " + std::to_string(j.id) + ": batch " + b.file + ": " + source.status().message() +
            "; its bytes are still in " + copy + ": trained from " +
            (from == copy ? "that" : "a kept copy of it"));
  return from;
}

// A batch the window leaves out, and why (the job spec's left_out).
nlohmann::json LeftOut(const BatchRecord& b, const std::string& why) {
  return {{"file", b.file}, {"sha256", b.sha256}, {"why", why}};
}

// The reference profile registered with the job's version (retrain.reference).
// "drift": the window's batches from the first batch that triggered the job
// on, the data since the change. Profiled with all the training data instead,
// a lasting shift stays a minority of the reference, and every later batch of
// the new regime drifts against it and triggers again, up to
// trigger.max_per_day. `used`: the window's batches and their files.
Result<nlohmann::json> ReferenceSpec(const ModelEntry& m, const Production& prod,
                                     const std::vector<BatchRecord>& trig,
                                     const std::vector<BatchRecord>& window,
                                     const std::vector<std::pair<BatchRecord, std::string>>& used) {
  auto training = [](const std::string& why) { return nlohmann::json{{"from", "training"}, {"why", why}}; };
  if (m.reference == "training") return training("retrain.reference = \"training\"");
  int64_t start = trig.empty() ? 0 : trig.front().id;
  std::string from =
      trig.empty() ? "" : "the batches since the drift (from " + BaseName(trig.front().file) + ")";
  if (trig.empty()) {
    // Found by a stranger: a signal's job profiled all its training data,
    // mostly of the regime before the drift, and every later batch drifted
    // again. It keeps production's start of the current regime instead.
    const nlohmann::json& ref = JsonObjectAt(JsonObjectAt(prod.record.record, "service"), "reference");
    std::set<std::string> theirs;
    for (const auto& f : JsonAt(ref, "files"))
      if (f.is_string()) theirs.insert(f.get<std::string>());
    for (const auto& [b, file] : used) {
      if (theirs.count(file) && (start == 0 || b.id < start)) start = b.id;
    }
    if (start == 0) return training("no batch triggered this job");
    from = "the batches since the drift that " + m.name + ":" + std::to_string(prod.version) +
           "'s reference starts from (no batch triggered this job)";
  }
  // By content: the same bytes under two names train once, under the newest.
  std::set<std::string> since;
  for (const BatchRecord& b : window) {
    if (b.id >= start) since.insert(b.sha256);
  }
  nlohmann::json files = nlohmann::json::array();
  int64_t rows = 0;
  for (const auto& [b, file] : used) {
    if (!since.count(b.sha256)) continue;
    files.push_back(file);
    rows += b.rows;
  }
  if (files.empty()) return training("none of " + from + " is a labelled batch the window trains on");
  if (rows < m.min_rows) {
    return training(from + " hold " + std::to_string(rows) +
                    " rows, fewer than monitor.min_rows = " + std::to_string(m.min_rows));
  }
  return nlohmann::json{{"from", "drift"}, {"files", files}, {"rows", rows}, {"why", from}};
}

// A drift retrain with nothing new to train on is refused (Status::Data: the
// job fails at once, saying why): every labelled batch that triggered it was
// left out (removed or edited), or the model's last retrain that ended with a
// verdict trained on the same window (a drift seen only in unlabelled
// batches: labels are what a retrain learns from).
Status CheckSomethingNew(ServiceContext& ctx, const JobRecord& j, int64_t production,
                         const std::vector<BatchRecord>& trig, const nlohmann::json& window,
                         const std::vector<std::pair<BatchRecord, std::string>>& used) {
  if (j.trigger != "drift" || trig.empty()) return Status::Ok();
  std::set<std::string> trained;
  std::set<nlohmann::json> trained_shas;
  for (const auto& u : used) {
    trained.insert(u.first.sha256);
    trained_shas.insert(u.first.sha256);
  }
  bool any_labelled = false, any_used = false;
  for (const BatchRecord& b : trig) {
    any_labelled = any_labelled || (b.labelled && b.decision == "scored");
    any_used = any_used || trained.count(b.sha256);
  }
  if (any_labelled && !any_used) {
    return Status::Data(
        "nothing new to train on: every labelled batch that triggered this retrain was left out (see the "
        "job's left_out)");
  }
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, ctx.journal->Jobs(j.model, 64));  // newest first
  for (const JobRecord& e : jobs) {
    // A job waiting for approval has its verdict too (found by a stranger:
    // in approval mode the same window was trained and registered again).
    const bool waiting = e.state == JobState::kRegistered && e.verdict.is_object() && !e.verdict.empty();
    if (e.id == j.id || (e.state != JobState::kPromoted && e.state != JobState::kRejected && !waiting))
      continue;
    // Only while production is what that job left: found by a stranger, a
    // job rejected because production was rolled back under it made the next
    // retrain, from the version rolled back to, "nothing new".
    const int64_t left = e.state == JobState::kPromoted ? e.version : JsonInt(e.spec, "base_version", -1);
    if (left != production) break;
    // By content where the job recorded it: found by a stranger, the same
    // batches, one under a second name, made another window.
    const nlohmann::json& shas = JsonAt(e.spec, "window_sha256");
    const bool same = shas.is_array() ? std::set<nlohmann::json>(shas.begin(), shas.end()) == trained_shas
                                      : JsonAt(e.spec, "window_batches") == window;
    if (same) {
      return Status::Data(
          "nothing new to train on: job " + std::to_string(e.id) + " trained on this window and " +
          (waiting ? std::string("waits for approval") : "ended " + std::string(JobStateName(e.state))) +
          " (the drift is in unlabelled batches; a retrain learns from labelled ones): send "
          "labelled batches, or `driftrun signal` to retrain anyway");
    }
    break;
  }
  return Status::Ok();
}

// A job's training window: the batches it trains on (with the file each is
// read from), each content once, and those it leaves out, with why.
struct Window {
  std::vector<std::pair<BatchRecord, std::string>> used;
  nlohmann::json left_out = nlohmann::json::array();
  std::map<std::string, std::string> seen;  // one content under two names: once (sha256 -> file)
};

// Takes batch `b` into window `w` unless its content is in already or it is
// left out (then recorded in left_out); an error only for infrastructure.
Status TakeBatch(ServiceContext& ctx, const ModelEntry& m, const JobRecord& j, const BatchRecord& b,
                 Window* w) {
  if (w->seen.count(b.sha256)) {
    w->left_out.push_back(LeftOut(b, "the same data as " + w->seen[b.sha256] + ", in the window once"));
    return Status::Ok();
  }
  auto source = WindowSource(ctx, m, j, b);
  if (!source.ok()) {
    if (source.status().code() != Code::kData) return source.status();
    w->left_out.push_back(LeftOut(b, source.status().message()));
    if (ctx.say)
      ctx.say("job " + std::to_string(j.id) + ": batch " + b.file + " (sha256 " + b.sha256.substr(0, 12) +
              ") left out: " + source.status().message());
    return Status::Ok();
  }
  w->seen[b.sha256] = b.file;
  w->used.emplace_back(b, source.value());
  return Status::Ok();
}

// Found by a stranger: a drifted batch followed by retrain.window clean
// ones fell out of the window, and its job failed with "nothing new to
// train on": the drift was never retrained. When no batch that triggered
// the job (`trig`) made it, the newest one that can train takes the oldest place.
Status TriggerTakesPlace(ServiceContext& ctx, const ModelEntry& m, const JobRecord& j,
                         const std::vector<BatchRecord>& trig, Window* w) {
  const auto triggered = [&](int64_t id) {
    return std::any_of(trig.begin(), trig.end(), [&](const BatchRecord& t) { return t.id == id; });
  };
  if (std::any_of(w->used.begin(), w->used.end(), [&](const auto& u) { return triggered(u.first.id); }))
    return Status::Ok();
  for (auto t = trig.rbegin(); t != trig.rend(); ++t) {
    if (!t->labelled || t->decision != "scored" || w->seen.count(t->sha256)) continue;
    const size_t before = w->used.size();
    DRIFTRUN_RETURN_IF_ERROR(TakeBatch(ctx, m, j, *t, w));
    if (w->used.size() == before) continue;
    if (m.window > 0 && static_cast<int64_t>(w->used.size()) > m.window) {
      auto oldest = std::min_element(w->used.begin(), w->used.end() - 1,
                                     [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
      w->left_out.push_back(LeftOut(oldest->first, "retrain.window is full: this job's trigger " +
                                                       BaseName(t->file) + " took its place"));
      w->seen.erase(oldest->first.sha256);
      w->used.erase(oldest);
    }
    return Status::Ok();
  }
  return Status::Ok();
}

// Newest first, until the window holds retrain.window batches it can train
// on: a duplicate or a batch left out does not take a slot (a few more than
// the window are read; 0: every batch). Then oldest first, as they arrived.
Result<Window> BuildWindow(ServiceContext& ctx, const ModelEntry& m, const JobRecord& j,
                           const std::vector<BatchRecord>& batches, const std::vector<BatchRecord>& trig) {
  Window w;
  for (const BatchRecord& b : batches) {
    if (m.window > 0 && static_cast<int64_t>(w.used.size()) >= m.window) break;
    DRIFTRUN_RETURN_IF_ERROR(TakeBatch(ctx, m, j, b, &w));
  }
  DRIFTRUN_RETURN_IF_ERROR(TriggerTakesPlace(ctx, m, j, trig, &w));
  std::sort(w.used.begin(), w.used.end(),
            [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
  return w;
}

}  // namespace

// The job's experiment config, written once: the model's config with the
// training window (data.train + the newest retrain.window labelled batches it
// can train on), no registration or export of its own (the service
// registers), and the production weights as a warm start.
Status WriteJobConfig(ServiceContext& ctx, const ModelEntry& m, JobRecord* j, const std::string& path) {
  DRIFTRUN_ASSIGN_OR_RETURN(const Production* prod, ctx.production.Get(m));
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<BatchRecord> batches,
                            ctx.journal->LabelledBatches(m.name, m.window > 0 ? m.window * 4 + 16 : 0));
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<BatchRecord> trig, ctx.journal->JobBatches(j->id));
  DRIFTRUN_ASSIGN_OR_RETURN(Window w, BuildWindow(ctx, m, *j, batches, trig));
  const auto& used = w.used;
  std::vector<std::string> train = m.cfg.StrList("data.train");
  nlohmann::json window = nlohmann::json::array();
  nlohmann::json window_sha = nlohmann::json::array();
  for (const auto& u : used) {
    train.push_back(u.second);
    window.push_back(u.second);
    window_sha.push_back(u.first.sha256);
  }
  DRIFTRUN_RETURN_IF_ERROR(CheckSomethingNew(ctx, *j, prod->version, trig, window, used));
  DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json reference, ReferenceSpec(m, *prod, trig, batches, used));
  std::string list = "data.train=[";
  for (size_t i = 0; i < train.size(); ++i) list += (i ? ", " : "") + TomlString(train[i]);
  list += "]";
  std::vector<std::string> over = {list, "registry.register=false", "export.onnx=false"};
  bool warm = m.warm_start && prod->version > 0 && !prod->checkpoint_path.empty();
  // Production's weights only fit the architecture they were trained with: a
  // changed [model] section trains from scratch (recorded in the spec).
  std::vector<std::string> changed;
  if (warm) {
    for (const std::string& d : prod->config.Differences(m.cfg)) {
      if (d.rfind("model.", 0) == 0) changed.push_back(d);
    }
    warm = changed.empty();
  }
  if (warm) over.push_back("train.init_from=" + TomlString(prod->checkpoint_path));
  DRIFTRUN_ASSIGN_OR_RETURN(
      Config c, Config::FromString(m.cfg.ToToml(), "job " + std::to_string(j->id) + " config", over));
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(path, c.ToToml()));
  j->spec = {{"config", path},
             {"window_batches", window},
             {"window_sha256", window_sha},
             {"left_out", w.left_out},
             {"reference", reference},
             {"base_version", prod->version},
             {"warm_from", warm ? prod->checkpoint_path : ""}};
  if (!changed.empty()) {
    j->spec["cold_start"] = "the model's [model] section differs from production " + m.name + ":" +
                            std::to_string(prod->version) + "'s (" + Join(changed, "; ") +
                            "): trained from scratch";
    if (ctx.say) ctx.say("job " + std::to_string(j->id) + ": " + j->spec["cold_start"].get<std::string>());
  }
  return Status::Ok();
}

}  // namespace driftrun
