// The job state machine (scheduler/job_driver.h) against a fake executor and a
// fake clock, on a real journal: launches, relaunches after a lost handle or
// an infrastructure failure (at most kMaxJobAttempts), fails on bad input with
// the log's last line, keeps a job stopped by a shutdown resumable, and writes
// the job's config once with its training window.
#include "scheduler/job_driver.h"

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/sha256.h"
#include "scheduler/batch_score.h"
#include "tests/scheduler/service_fakes.h"

namespace driftrun {
namespace {

// Why the job's window left batch `b` out ("" when it did not).
std::string WhyLeftOut(const JobRecord& j, const BatchRecord& b) {
  for (const auto& l : j.spec["left_out"]) {
    if (l["file"] == b.file && l["sha256"] == b.sha256) return l["why"];
  }
  return "";
}

TEST(JobDriver, LaunchesOnceWithItsConfigAndCappedRanks) {
  Fixture f;
  BatchRecord b;
  b.model = "m";
  b.file = f.dir + "/batch-1.h5";
  b.labelled = true;
  b.decision = "scored";
  ASSERT_TRUE(WriteFileAtomic(b.file, "x").ok());
  b.sha256 = Sha256File(b.file).value();
  ASSERT_TRUE(f.journal->AddBatch(b).ok());
  const int64_t id = f.Queue().id;
  JobRecord j = f.Step(id);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.attempts, 1);
  EXPECT_EQ(j.handle, "fake:1");
  ASSERT_EQ(f.exec.launches.size(), 1u);
  EXPECT_EQ(f.exec.launches[0].ranks, 2) << "retrain.ranks 4 capped to the executor's 2";
  EXPECT_NE(j.reason.find("capped"), std::string::npos) << j.reason;
  const std::string config = ReadFile(f.exec.launches[0].config).value();
  EXPECT_NE(config.find(b.file), std::string::npos) << "the window's labelled batch is in data.train";
  EXPECT_NE(config.find("register = false"), std::string::npos);
  EXPECT_EQ(j.spec["window_batches"][0], b.file);
  f.Step(id);  // still running: nothing new
  EXPECT_EQ(f.exec.launches.size(), 1u);
}

// Found by a stranger: a batch renamed over an earlier one in the incoming
// folder silently replaced the earlier batch's data in later windows (and
// under the path an older version's lineage names).
TEST(JobDriver, WindowsTrainOnTheBatchesAsScored) {
  Fixture f;
  f.setup.models[0].window = 4;

  const BatchRecord replaced = f.ScoredBatch("replaced.h5", "first");
  const BatchRecord changed =
      f.ScoredBatch("changed.h5", "first of changed", false);  // no copy kept (older journal)
  const BatchRecord removed = f.ScoredBatch("removed.h5", "removed");
  const BatchRecord same = f.ScoredBatch("same.h5", "same");
  ASSERT_TRUE(WriteFileAtomic(replaced.file, "second").ok());  // renamed over
  ASSERT_TRUE(WriteFileAtomic(changed.file, "second!").ok());
  ASSERT_EQ(std::remove(removed.file.c_str()), 0);
  const JobRecord j = f.Step(f.Queue().id);
  ASSERT_EQ(j.state, JobState::kRunning) << j.reason;
  const std::vector<std::string> window = j.spec["window_batches"];
  ASSERT_EQ(window.size(), 2u) << j.spec.dump();
  EXPECT_EQ(window[0], KeptBatchPath(f.setup.state, replaced));
  EXPECT_EQ(ReadFile(window[0]).value(), "first") << "the data that was scored";
  EXPECT_EQ(window[1], KeptBatchPath(f.setup.state, same));
  const std::string left_out = j.spec["left_out"].dump();
  EXPECT_EQ(WhyLeftOut(j, changed).rfind("it no longer holds the data that was scored", 0), 0u) << left_out;
  EXPECT_EQ(WhyLeftOut(j, removed), "removed from the incoming folder") << left_out;
  EXPECT_EQ(j.spec["left_out"].size(), 2u) << left_out;
}

// Found by a stranger (second round): the same bytes under a second name were
// skipped as a duplicate although the first name had been left out; and
// removing a path left out the older batch that a file renamed over it had
// replaced (the replaced batch is kept as scored).
TEST(JobDriver, DuplicatesAndReplacedBatchesInTheWindow) {
  Fixture f;
  f.setup.models[0].window = 10;

  const BatchRecord first = f.ScoredBatch("a.h5", "bytes of a");
  ASSERT_EQ(std::rename(first.file.c_str(), (f.dir + "/a-renamed.h5").c_str()), 0);
  const BatchRecord again = f.ScoredBatch("a-renamed.h5", "bytes of a");  // same bytes, second name
  const BatchRecord old = f.ScoredBatch("p.h5", "old bytes at p");
  const BatchRecord over = f.ScoredBatch("p.h5", "new bytes renamed over p");
  ASSERT_EQ(std::remove(over.file.c_str()), 0);  // removes the current p.h5: `over`
  const JobRecord j = f.Step(f.Queue().id);
  ASSERT_EQ(j.state, JobState::kRunning) << j.reason;
  const std::vector<std::string> window = j.spec["window_batches"];
  EXPECT_EQ(window, (std::vector<std::string>{KeptBatchPath(f.setup.state, again),
                                              KeptBatchPath(f.setup.state, old)}))
      << j.spec.dump();
  const std::string left_out = j.spec["left_out"].dump();
  EXPECT_EQ(WhyLeftOut(j, first), "the same data as " + again.file + ", in the window once") << left_out;
  EXPECT_EQ(WhyLeftOut(j, over), "removed from the incoming folder") << left_out;
  EXPECT_EQ(WhyLeftOut(j, old), "") << left_out;
}

// Found by a stranger: a retrained version's reference profile was all its
// training data, where a lasting shift stays a minority, so every later batch
// of the new regime drifted again and queued another retrain.
TEST(JobDriver, TheReferenceIsTheWindowSinceTheDrift) {
  const auto reference = [](int64_t min_rows, const std::string& mode, bool triggered) {
    Fixture f;
    f.setup.models[0].window = 10;
    f.setup.models[0].min_rows = min_rows;
    f.setup.models[0].reference = mode;
    f.ScoredBatch("before.h5", "old regime", true, 150);
    const BatchRecord drifted = f.ScoredBatch("drifted.h5", "new regime", true, 150);
    const BatchRecord after = f.ScoredBatch("after.h5", "new regime, later", true, 150);
    JobRecord j = f.Queue();
    if (triggered) {
      TriggerRecord t;
      t.model = "m";
      t.kind = "drift";
      t.action = "queue";
      t.job = j.id;
      t.batches = {drifted.id, after.id};
      EXPECT_TRUE(f.journal->AddTrigger(t, after.id).ok());
    }
    j = f.Step(j.id);
    EXPECT_EQ(j.state, JobState::kRunning) << j.reason;
    nlohmann::json r = j.spec["reference"];
    r["kept"] = {KeptBatchPath(f.setup.state, drifted), KeptBatchPath(f.setup.state, after)};
    return r;
  };
  const nlohmann::json drift = reference(200, "drift", true);
  EXPECT_EQ(drift["from"], "drift") << drift.dump();
  EXPECT_EQ(drift["files"], drift["kept"]) << "the batches from the first that triggered on, oldest first";
  EXPECT_EQ(drift["rows"], 300);
  EXPECT_NE(drift["why"].get<std::string>().find("since the drift (from drifted.h5)"), std::string::npos);

  const nlohmann::json few = reference(400, "drift", true);
  EXPECT_EQ(few["from"], "training") << few.dump();
  EXPECT_NE(few["why"].get<std::string>().find("hold 300 rows, fewer than monitor.min_rows = 400"),
            std::string::npos)
      << few.dump();
  const nlohmann::json signal = reference(200, "drift", false);
  EXPECT_EQ(signal["from"], "training");
  EXPECT_EQ(signal["why"], "no batch triggered this job");
  EXPECT_EQ(reference(200, "training", true)["from"], "training");
}

// A drift job queued by `batches` (a trigger that consumed them).
JobRecord DriftJob(Fixture& f, const std::vector<int64_t>& batches) {
  JobRecord j;
  j.model = "m";
  j.queued_at = f.clock.Seconds();
  j.trigger = "drift";
  j.id = f.journal->AddJob(j).value();
  TriggerRecord t;
  t.model = "m";
  t.kind = "drift";
  t.action = "queue";
  t.job = j.id;
  t.batches = batches;
  EXPECT_TRUE(f.journal->AddTrigger(t, batches.back()).ok());
  return f.journal->Job(j.id).value();
}

// Found by a stranger: an old batch sent again under a new name triggered a
// retrain whose reference fell back to the training data ("none of the
// batches since the drift is labelled"), and the window silently lost it.
// The window takes the newest name of one content once; the other name is
// listed, takes no slot, and the reference matches by content.
TEST(JobDriver, AnOldBatchSentAgainIsInTheReferenceByContent) {
  Fixture f;
  f.setup.models[0].window = 2;
  f.setup.models[0].min_rows = 100;
  const BatchRecord older = f.ScoredBatch("older.h5", "older regime", true, 150);
  const BatchRecord first = f.ScoredBatch("old.h5", "old regime", true, 150);
  const BatchRecord again = f.ScoredBatch("old-again.h5", "old regime", true, 150);
  const JobRecord j = f.Step(DriftJob(f, {again.id}).id);
  ASSERT_EQ(j.state, JobState::kRunning) << j.reason;
  EXPECT_EQ(j.spec["reference"]["from"], "drift") << j.spec.dump();
  EXPECT_EQ(j.spec["reference"]["files"], nlohmann::json({KeptBatchPath(f.setup.state, again)}));
  EXPECT_EQ(j.spec["window_batches"],
            nlohmann::json({KeptBatchPath(f.setup.state, older), KeptBatchPath(f.setup.state, again)}))
      << "the duplicate takes no slot of retrain.window = 2";
  EXPECT_EQ(WhyLeftOut(j, first), "the same data as " + again.file + ", in the window once")
      << j.spec["left_out"].dump();
}

// Found by a stranger: a drifted batch removed from the incoming folder while
// an earlier job ran still queued a retrain, which trained on nothing new.
TEST(JobDriver, ADriftRetrainWhoseBatchesWereAllLeftOutFails) {
  Fixture f;
  const BatchRecord gone = f.ScoredBatch("gone.h5", "drifted", false);
  ASSERT_EQ(std::remove(gone.file.c_str()), 0);
  const JobRecord j = f.Step(DriftJob(f, {gone.id}).id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_NE(
      j.reason.find("nothing new to train on: every labelled batch that triggered this retrain was left out"),
      std::string::npos)
      << j.reason;
  EXPECT_TRUE(f.exec.launches.empty());
}

// Found by a stranger: drift in an unlabelled batch retrained on a window
// that held only what the last job trained on, one batch under a second
// name: the paths differed, the data did not.
TEST(JobDriver, TheSameWindowUnderOtherNamesIsNothingNew) {
  Fixture f;
  f.setup.models[0].window = 10;
  const BatchRecord a = f.ScoredBatch("a.h5", "labelled rows");
  JobRecord last = f.Queue();
  last.spec = {{"window_batches", {KeptBatchPath(f.setup.state, a)}}, {"window_sha256", {a.sha256}}};
  ASSERT_TRUE(f.journal->UpdateJob(last, JobState::kPromoted, "promoted", f.clock.Seconds()).ok());
  f.ScoredBatch("a-again.h5", "labelled rows");  // the same bytes, a second name
  const BatchRecord u = f.UnlabelledBatch();
  const JobRecord j = f.Step(DriftJob(f, {u.id}).id);
  EXPECT_EQ(j.state, JobState::kFailed) << j.reason;
  EXPECT_NE(
      j.reason.find("nothing new to train on: job " + std::to_string(last.id) + " trained on this window"),
      std::string::npos)
      << j.reason;
  EXPECT_TRUE(f.exec.launches.empty());
  // Found by a stranger: a job rejected because production moved under it
  // (from m:5 back to none here) is no reason to refuse a retrain from today's.
  JobRecord moved = f.Queue();
  moved.spec = last.spec;
  moved.spec["base_version"] = 5;
  ASSERT_TRUE(f.journal->UpdateJob(moved, JobState::kRejected, "production moved", f.clock.Seconds()).ok());
  const JobRecord k = f.Step(DriftJob(f, {u.id}).id);
  EXPECT_EQ(k.state, JobState::kRunning) << k.reason;
  EXPECT_EQ(f.exec.launches.size(), 1u);
}

// Found by a stranger: in approval mode a job waiting for a person did not
// count, and a drift seen only in unlabelled batches trained its window again.
TEST(JobDriver, AJobWaitingForApprovalCountsForNothingNew) {
  Fixture f;
  f.setup.models[0].window = 10;
  const BatchRecord a = f.ScoredBatch("a.h5", "labelled rows");
  JobRecord waiting = f.Queue();
  waiting.spec = {{"window_batches", {KeptBatchPath(f.setup.state, a)}},
                  {"window_sha256", {a.sha256}},
                  {"base_version", 0}};
  waiting.verdict = {{"promote", true}};
  ASSERT_TRUE(
      f.journal->UpdateJob(waiting, JobState::kRegistered, "waiting for approval", f.clock.Seconds()).ok());
  const BatchRecord u = f.UnlabelledBatch();
  const JobRecord j = f.Step(DriftJob(f, {u.id}).id);
  EXPECT_EQ(j.state, JobState::kFailed) << j.reason;
  EXPECT_NE(
      j.reason.find("job " + std::to_string(waiting.id) + " trained on this window and waits for approval"),
      std::string::npos)
      << j.reason;
  EXPECT_TRUE(f.exec.launches.empty());
}

TEST(JobDriver, InfrastructureFailuresRetryUpToTheLimitThenFailWithTheLogLine) {
  Fixture f;
  const int64_t id = f.Queue().id;
  f.Step(id);
  ASSERT_TRUE(
      AppendLine(f.setup.state + "/jobs/1/train.log", "driftrun train: infrastructure error: disk full")
          .ok());
  for (int i = 1; i < kMaxJobAttempts; ++i) {
    f.exec.results.push_back(Exited(5));
    JobRecord j = f.Step(id);
    EXPECT_EQ(j.state, JobState::kRunning);
    EXPECT_EQ(j.attempts, i + 1);
  }
  f.exec.results.push_back(Exited(5));
  JobRecord j = f.Step(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_NE(j.reason.find("exited 5: driftrun train: infrastructure error: disk full"), std::string::npos)
      << j.reason;
  EXPECT_GT(j.ended_at, 0);
}

TEST(JobDriver, BadInputFailsAtOnce) {
  Fixture f;
  const int64_t id = f.Queue().id;
  f.Step(id);
  f.exec.results.push_back(Exited(3));
  JobRecord j = f.Step(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(f.exec.launches.size(), 1u);
}

TEST(JobDriver, AnErrorExitAfterAnEarlierStopFailsAndAStopIsRelaunched) {
  Fixture f;
  const int64_t id = f.Queue().id;
  JobRecord j = f.Step(id);
  ASSERT_TRUE(MakeDirs(j.run_dir).ok());
  ASSERT_TRUE(
      AppendLine(j.run_dir + "/events.jsonl", R"({"event": "stop", "step": 351, "time": 1.8e9})").ok());
  f.exec.results.push_back(Exited(1));  // mpirun signalled itself, every rank checkpointed
  j = f.Step(id);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_NE(j.reason.find("stopped at a checkpoint before its end"), std::string::npos) << j.reason;
  ASSERT_TRUE(AppendLine(f.setup.state + "/jobs/1/train.log",
                         "driftrun train: data error: resuming: checkpoint was trained on other data")
                  .ok());
  f.exec.results.push_back(Exited(3));  // the resume refused: the last event is still the stop
  j = f.Step(id);
  EXPECT_EQ(j.state, JobState::kFailed) << j.reason;
  EXPECT_NE(j.reason.find("exited 3: driftrun train: data error"), std::string::npos) << j.reason;
  EXPECT_EQ(f.exec.launches.size(), 2u);
  // A crash (a signal) after an earlier attempt's stop is not a stop.
  const int64_t id2 = f.Queue().id;
  j = f.Step(id2);
  ASSERT_TRUE(MakeDirs(j.run_dir).ok());
  ASSERT_TRUE(AppendLine(j.run_dir + "/events.jsonl", R"({"event": "stop", "step": 9, "time": 1.7e9})").ok());
  f.exec.results.push_back(Exited(139));
  j = f.Step(id2);
  EXPECT_NE(j.reason.find("relaunched after driftrun train exited 139"), std::string::npos) << j.reason;
}

TEST(JobDriver, ALostHandleIsRelaunchedAndAShutdownKeepsTheJobResumable) {
  Fixture f;
  const int64_t id = f.Queue().id;
  f.Step(id);
  f.exec.running.clear();  // as after a restart: the executor does not know the handle
  JobRecord j = f.Step(id);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.attempts, 2);
  EXPECT_NE(j.reason.find("the service restarted"), std::string::npos) << j.reason;
  f.ctx.stopping = true;
  f.Step(id);
  f.Step(id);
  EXPECT_EQ(f.exec.stops, std::vector<std::string>{"fake:2"}) << "one stop per handle";
  f.exec.results.push_back(Exited(0));  // checkpointed, no summary: not finished
  j = f.Step(id);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_NE(j.reason.find("a restart continues it"), std::string::npos) << j.reason;
  EXPECT_EQ(f.exec.launches.size(), 2u) << "nothing launched while stopping";
}

TEST(JobDriver, AFinishedRunIsTrained) {
  Fixture f;
  const int64_t id = f.Queue().id;
  JobRecord j = f.Step(id);
  ASSERT_TRUE(MakeDirs(j.run_dir).ok());
  ASSERT_TRUE(WriteFileAtomic(j.run_dir + "/summary.json", R"({"status": "done", "steps": 7})").ok());
  f.exec.results.push_back(Exited(0));
  f.Step(id);
  const auto events = f.journal->JobEvents(id).value();
  bool trained = false;
  for (const auto& e : events) trained = trained || e["state"] == "trained";
  EXPECT_TRUE(trained) << events.dump();
}

// Found by a stranger: production rolled back from m:5 to m:4 while a job
// warm-started from m:5 trained; the job, evaluated against m:4, promoted a
// version derived from the one rolled back.
TEST(JobDriver, AJobWhoseBaseLeftProductionWhileItTrainedIsNotPromoted) {
  Fixture f;
  JobRecord j = f.Queue();
  j.spec = {{"base_version", 5}};
  j.verdict = {{"promote", true}, {"champion", 4}, {"reason", "promoted: better on the drifted window"}};
  j.version = 6;
  ASSERT_TRUE(f.journal->UpdateJob(j, JobState::kRegistered, "registered as m:6", f.clock.Seconds()).ok());
  const JobRecord after = f.Step(j.id);
  EXPECT_EQ(after.state, JobState::kRejected) << after.reason;
  EXPECT_NE(after.reason.find("production moved from m:5 to m:4 while this job trained from m:5"),
            std::string::npos)
      << after.reason;
}

}  // namespace
}  // namespace driftrun
