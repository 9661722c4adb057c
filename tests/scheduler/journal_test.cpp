// The service's journal on real SQLite files: what is recorded survives a
// reopen, the policy's view of a model comes from it, a trigger consumes the
// batches it used, and a damaged or busy database is an error, never "no rows".
#include "scheduler/journal.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/file_util.h"
#include "tests/common/test_paths.h"

namespace driftrun {
namespace {

constexpr double kNow = 1.8e9;

BatchRecord Batch(const std::string& model, const std::string& file, bool drifted, int64_t rows = 500) {
  BatchRecord b;
  b.model = model;
  b.file = file;
  b.sha256 = "sha-" + file;
  b.rows = rows;
  b.drifted = drifted;
  b.scored_at = kNow;
  b.decision = "scored";
  b.scores = {{"x0", {{"psi", 0.3}}}};
  return b;
}

TEST(Journal, MissingJournalIsNotCreatedUnlessAsked) {
  const std::string d = FreshTestDir();
  auto j = Journal::Open(d + "/journal.db", false);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().exit_code(), 2);
  EXPECT_FALSE(PathExists(d + "/journal.db"));
  ASSERT_TRUE(Journal::Open(d + "/journal.db", true).ok());
  EXPECT_TRUE(Journal::Open(d + "/journal.db", false).ok());
}

TEST(Journal, BatchesAndTheirConsumptionSurviveAReopen) {
  const std::string path = FreshTestDir() + "/journal.db";
  int64_t b2 = 0;
  {
    auto j = Journal::Open(path, true);
    ASSERT_TRUE(j.ok()) << j.status().message();
    ASSERT_TRUE(j.value()->AddBatch(Batch("m", "a.h5", false)).ok());
    auto id = j.value()->AddBatch(Batch("m", "b.h5", true));
    ASSERT_TRUE(id.ok());
    b2 = id.value();
    ASSERT_TRUE(j.value()->AddBatch(Batch("other", "b.h5", true)).ok());
    ASSERT_FALSE(j.value()->AddBatch(Batch("m", "b.h5", true)).ok()) << "the same batch twice";
  }
  auto j = Journal::Open(path, false);
  ASSERT_TRUE(j.ok());
  Journal& jr = *j.value();
  EXPECT_TRUE(jr.HasBatch("m", "b.h5", "sha-b.h5").value());
  EXPECT_FALSE(jr.HasBatch("m", "b.h5", "other-sha").value()) << "a file replaced by new content is new";
  EXPECT_EQ(jr.CountBatches().value(), 3);
  auto st = jr.State("m", 200, 5, kNow);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st.value().pending.size(), 2u);
  EXPECT_TRUE(st.value().pending[1].drifted);
  EXPECT_EQ(st.value().pending[1].id, b2);

  TriggerRecord t;
  t.model = "m";
  t.kind = "drift";
  t.action = "queue";
  t.at = kNow;
  t.batches = {b2};
  {
    auto txn = jr.Begin();
    ASSERT_TRUE(txn.ok());
    JobRecord job;
    job.model = "m";
    job.queued_at = kNow;
    job.trigger = "drift";
    auto jid = jr.AddJob(job);
    ASSERT_TRUE(jid.ok());
    t.job = jid.value();
    ASSERT_TRUE(jr.AddTrigger(t, b2).ok());
    ASSERT_TRUE(txn.value().Commit().ok());
  }
  st = jr.State("m", 200, 5, kNow);
  EXPECT_TRUE(st.value().pending.empty()) << "the queued trigger consumed both batches";
  EXPECT_EQ(st.value().active_job, t.job);
  EXPECT_EQ(st.value().queued_times_24h.size(), 1u);
  EXPECT_EQ(jr.State("other", 200, 5, kNow).value().pending.size(), 1u) << "other models untouched";
  auto trig = jr.Triggers("m", 10);
  ASSERT_EQ(trig.value().size(), 1u);
  EXPECT_EQ(trig.value()[0].batches, std::vector<int64_t>{b2});
  EXPECT_EQ(jr.Batches("m", 10).value()[0].consumed_by, trig.value()[0].id);
  EXPECT_EQ(jr.JobBatches(t.job).value().size(), 1u);

  // Found by a stranger: a batch merged into the job while it already ran
  // (nothing consumed: it counts again when the job ends) was listed in the
  // job's lineage although the job never trained on it.
  auto b3 = jr.AddBatch(Batch("m", "c.h5", true));
  ASSERT_TRUE(b3.ok());
  TriggerRecord late = t;
  late.action = "merge";
  late.batches = {b3.value()};
  ASSERT_TRUE(jr.AddTrigger(late, 0).ok());
  auto credited = jr.JobBatches(t.job);
  ASSERT_TRUE(credited.ok());
  ASSERT_EQ(credited.value().size(), 1u) << "the late batch was credited to the running job";
  EXPECT_EQ(credited.value()[0].id, b2);
  EXPECT_EQ(jr.State("m", 200, 5, kNow).value().pending.size(), 1u) << "the late batch stays pending";
}

TEST(Journal, AnUncommittedTransactionLeavesNothing) {
  auto j = Journal::Open(FreshTestDir() + "/journal.db", true);
  ASSERT_TRUE(j.ok());
  {
    auto txn = j.value()->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(j.value()->AddBatch(Batch("m", "a.h5", true)).ok());
  }  // no Commit: a crash between recording and acting
  EXPECT_EQ(j.value()->CountBatches().value(), 0);
}

TEST(Journal, JobsMoveThroughTheirStatesWithEvents) {
  auto j = Journal::Open(FreshTestDir() + "/journal.db", true);
  ASSERT_TRUE(j.ok());
  Journal& jr = *j.value();
  JobRecord job;
  job.model = "m";
  job.queued_at = kNow;
  job.trigger = "initial";
  job.priority = 1;
  job.spec = {{"ranks", 2}};
  job.id = jr.AddJob(job).value();
  JobRecord low = job;
  low.priority = 0;
  low.model = "n";
  low.id = jr.AddJob(low).value();
  job.started_at = kNow + 1;
  job.handle = "pid:42";
  job.attempts = 1;
  ASSERT_TRUE(jr.UpdateJob(job, JobState::kRunning, "started", kNow + 1).ok());
  auto active = jr.ActiveJobs();
  ASSERT_EQ(active.value().size(), 2u);
  EXPECT_EQ(active.value()[0].id, job.id) << "higher priority first";
  EXPECT_EQ(active.value()[0].state, JobState::kRunning);
  EXPECT_EQ(active.value()[0].spec["ranks"], 2);
  job.ended_at = kNow + 9;
  job.version = 3;
  job.verdict = {{"reason", "first model"}};
  ASSERT_TRUE(jr.UpdateJob(job, JobState::kPromoted, "first model", kNow + 9).ok());
  auto back = jr.Job(job.id);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value().state, JobState::kPromoted);
  EXPECT_EQ(back.value().version, 3);
  EXPECT_EQ(back.value().verdict["reason"], "first model");
  EXPECT_EQ(jr.JobEvents(job.id).value().size(), 3u);
  EXPECT_EQ(jr.ActiveJobs().value().size(), 1u);
  EXPECT_DOUBLE_EQ(jr.State("m", 1, 1, kNow + 10).value().last_retrain_end, -1)
      << "the initial job is not a retrain: no cooldown after it";
  EXPECT_TRUE(jr.State("m", 1, 1, kNow + 10).value().queued_times_24h.empty())
      << "initial jobs are not budgeted";
  JobRecord retrain = job;
  retrain.trigger = "drift";
  retrain.id = jr.AddJob(retrain).value();
  retrain.ended_at = kNow + 12;
  ASSERT_TRUE(jr.UpdateJob(retrain, JobState::kRejected, "worse", kNow + 12).ok());
  EXPECT_DOUBLE_EQ(jr.State("m", 1, 1, kNow + 13).value().last_retrain_end, kNow + 12);
  EXPECT_EQ(jr.State("m", 1, 1, kNow + 13).value().queued_times_24h.size(), 1u);
  // Found by a stranger: retrains refused before they started ("nothing new
  // to train on") spent the daily budget and held the cooldown.
  JobRecord refused = job;
  refused.trigger = "drift";
  refused.started_at = 0;
  refused.id = jr.AddJob(refused).value();
  refused.ended_at = kNow + 20;
  ASSERT_TRUE(jr.UpdateJob(refused, JobState::kFailed, "nothing new to train on", kNow + 20).ok());
  EXPECT_DOUBLE_EQ(jr.State("m", 1, 1, kNow + 21).value().last_retrain_end, kNow + 12);
  EXPECT_EQ(jr.State("m", 1, 1, kNow + 21).value().queued_times_24h.size(), 1u);
  JobRecord ghost;
  ghost.id = 999;
  EXPECT_FALSE(jr.UpdateJob(ghost, JobState::kFailed, "x", kNow).ok());
  EXPECT_FALSE(jr.Job(999).ok());
}

TEST(Journal, SignalsWaitUntilHandled) {
  auto j = Journal::Open(FreshTestDir() + "/journal.db", true);
  ASSERT_TRUE(j.ok());
  auto id = j.value()->AddSignal({0, "m", "new labels arrived", "ann", kNow, 0});
  ASSERT_TRUE(id.ok());
  auto pending = j.value()->PendingSignals();
  ASSERT_EQ(pending.value().size(), 1u);
  EXPECT_EQ(pending.value()[0].by, "ann");
  ASSERT_TRUE(j.value()->MarkSignal(id.value(), 5).ok());
  EXPECT_TRUE(j.value()->PendingSignals().value().empty());
}

TEST(Journal, AJournalFromBeforeStopSignalsIsUpgradedInPlace) {
  const std::string d = FreshTestDir();
  const std::string path = d + "/journal.db";
  {
    // Version 1: the signals table without stop_job, one signal waiting.
    auto j = Journal::Open(path, true);
    ASSERT_TRUE(j.ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(
                db,
                "DROP TABLE signals; CREATE TABLE signals(id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT "
                "NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL, at REAL NOT NULL, trigger INTEGER NOT "
                "NULL DEFAULT 0); INSERT INTO signals(model, reason, by, at) VALUES ('m', 'r', 'ann', 1); "
                "DROP INDEX jobs_queue; DROP INDEX batches_by_sha; PRAGMA user_version = 1;",
                nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto j = Journal::Open(path, false);
  ASSERT_TRUE(j.ok()) << j.status().message();
  auto pending = j.value()->PendingSignals();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending.value().size(), 1u);
  EXPECT_EQ(pending.value()[0].by, "ann");
  EXPECT_EQ(pending.value()[0].stop_job, 0);
  SignalRecord stop;
  stop.model = "m";
  stop.stop_job = 4;
  ASSERT_TRUE(j.value()->AddSignal(stop).ok());
  pending = j.value()->PendingSignals();
  ASSERT_EQ(pending.value().size(), 2u);
  EXPECT_EQ(pending.value()[1].stop_job, 4);
  // The upgrade also added the queue's index and the batches' by content.
  sqlite3* check = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &check), SQLITE_OK);
  for (const char* index : {"jobs_queue", "batches_by_sha"}) {
    sqlite3_stmt* st = nullptr;
    const std::string q = std::string("SELECT 1 FROM sqlite_master WHERE name = '") + index + "'";
    ASSERT_EQ(sqlite3_prepare_v2(check, q.c_str(), -1, &st, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW) << index;
    sqlite3_finalize(st);
  }
  sqlite3_close(check);
}

TEST(Journal, ADamagedOrBusyDatabaseIsAnError) {
  const std::string d = FreshTestDir();
  ASSERT_TRUE(WriteFileAtomic(d + "/journal.db", std::string(4096, 'x')).ok());
  auto bad = Journal::Open(d + "/journal.db", false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().exit_code(), 3) << "damaged state is a data error: " << bad.status().message();
  EXPECT_NE(bad.status().message().find("is damaged"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("journal.db"), std::string::npos) << bad.status().message();

  setenv("DRIFTRUN_REGISTRY_BUSY_MS", "50", 1);
  auto j = Journal::Open(d + "/busy-journal.db", true);
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE(j.value()->AddBatch(Batch("m", "a.h5", true)).ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((d + "/busy-journal.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto b = j.value()->AddBatch(Batch("m", "b.h5", true));
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.status().exit_code(), 5);
  EXPECT_NE(b.status().message().find("service journal"), std::string::npos) << b.status().message();
  EXPECT_NE(b.status().message().find("another process"), std::string::npos) << b.status().message();
  EXPECT_FALSE(j.value()->Begin().ok());
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  unsetenv("DRIFTRUN_REGISTRY_BUSY_MS");
  EXPECT_TRUE(j.value()->AddBatch(Batch("m", "b.h5", true)).ok());
}

// Found by a stranger: an emptied journal.db started the service afresh (it
// scored, retrained and promoted again), and one with a damaged page in the
// middle went unnoticed until a query hit it.
TEST(Journal, AnEmptiedOrDamagedJournalIsRefusedNamingIt) {
  const std::string d = FreshTestDir();
  ASSERT_TRUE(WriteFileAtomic(d + "/journal.db", "").ok());
  EXPECT_TRUE(Journal::Open(d + "/journal.db", true).ok())
      << "an empty journal in an empty state folder is new";
  ASSERT_TRUE(MakeDirs(d + "/emptied/jobs/1").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/emptied/journal.db", "").ok());
  auto emptied = Journal::Open(d + "/emptied/journal.db", true);
  ASSERT_FALSE(emptied.ok());
  EXPECT_EQ(emptied.status().exit_code(), 3);
  EXPECT_NE(emptied.status().message().find("earlier work in jobs/"), std::string::npos)
      << emptied.status().message();
  EXPECT_EQ(FileSize(d + "/emptied/journal.db"), 0) << "nothing written into it";

  const std::string path = d + "/damaged/journal.db";
  ASSERT_TRUE(MakeDirs(d + "/damaged").ok());
  {
    auto j = Journal::Open(path, true);
    ASSERT_TRUE(j.ok());
    for (int i = 0; i < 300; ++i)
      ASSERT_TRUE(j.value()->AddBatch(Batch("m", "b" + std::to_string(i), true)).ok());
    EXPECT_TRUE(j.value()->CheckIntegrity().ok());
  }
  {
    sqlite3* db = nullptr;  // fold the WAL into the file, so that its pages are what is damaged
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  const int64_t size = FileSize(path);
  ASSERT_GT(size, 8 * 4096);
  std::string bytes = ReadFile(path).value();
  for (int64_t i = size / 2; i < size / 2 + 4096; ++i)
    bytes[static_cast<size_t>(i)] = static_cast<char>(i * 7);
  ASSERT_TRUE(WriteFileAtomic(path, bytes).ok());
  auto j = Journal::Open(path, false);
  ASSERT_TRUE(j.ok()) << "its first page is intact";
  const Status sound = j.value()->CheckIntegrity();
  EXPECT_EQ(sound.exit_code(), 3) << sound.message();
  EXPECT_NE(sound.message().find("'" + path + "' is damaged"), std::string::npos) << sound.message();
}

}  // namespace
}  // namespace driftrun
