// Slurm pieces without a cluster: the batch script's validation and text
// (scheduler/slurm_script.h) and the attempts' requeue budget
// (scheduler/slurm_attempts.h). tests/integration/test_slurm.py runs them on a
// real slurmctld.
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "scheduler/slurm_attempts.h"
#include "scheduler/slurm_executor.h"
#include "scheduler/slurm_script.h"
#include "scheduler/sweep.h"
#include "tests/common/test_paths.h"

namespace driftrun {
namespace {

TEST(SlurmTime, EveryFormSlurmAccepts) {
  EXPECT_EQ(SlurmTimeSeconds(""), 0);
  EXPECT_EQ(SlurmTimeSeconds("30"), 30 * 60);
  EXPECT_EQ(SlurmTimeSeconds("30:15"), 30 * 60 + 15);
  EXPECT_EQ(SlurmTimeSeconds("2:00:00"), 7200);
  EXPECT_EQ(SlurmTimeSeconds("1-0"), 86400);
  EXPECT_EQ(SlurmTimeSeconds("1-2:30"), 86400 + 2 * 3600 + 30 * 60);
  EXPECT_EQ(SlurmTimeSeconds("1-2:30:05"), 86400 + 2 * 3600 + 30 * 60 + 5);
  // Found by a stranger: fields out of range went to #SBATCH as they were.
  for (const char* bad : {"1h", "-5", "1:2:3:4", "10;rm -rf", " 10", "1-", "$(id)", "1:99:99", "10-25:00:00",
                          "1-00:00:61", "30:60", "1-2:60"}) {
    EXPECT_EQ(SlurmTimeSeconds(bad), -1) << bad;
  }
}

TEST(SlurmOptions, RefusesWhatCouldBreakTheScript) {
  SlurmOptions ok;
  EXPECT_TRUE(ValidateSlurmOptions(ok).ok());
  auto with = [&](auto set) {
    SlurmOptions o;
    set(o);
    return ValidateSlurmOptions(o);
  };
  EXPECT_TRUE(with([](SlurmOptions& o) { o.partition = "gpu,cpu"; }).ok());
  EXPECT_EQ(with([](SlurmOptions& o) { o.partition = "gpu;id"; }).code(), Code::kUsage);
  EXPECT_EQ(with([](SlurmOptions& o) { o.partition = "-p"; }).code(), Code::kUsage);
  EXPECT_EQ(with([](SlurmOptions& o) { o.account = "a\nb"; }).code(), Code::kUsage);
  EXPECT_EQ(with([](SlurmOptions& o) { o.qos = "q q"; }).code(), Code::kUsage);
  EXPECT_EQ(with([](SlurmOptions& o) { o.signal = "TERM"; }).code(), Code::kUsage);
  EXPECT_EQ(with([](SlurmOptions& o) { o.mpi = "pmi2"; }).code(), Code::kUsage);
  EXPECT_EQ(with([](SlurmOptions& o) { o.nodes = 0; }).code(), Code::kUsage);
  Status s = with([](SlurmOptions& o) {
    o.time = "5";
    o.signal_before_s = 400;
  });
  EXPECT_EQ(s.code(), Code::kUsage);
  EXPECT_NE(s.message().find("not shorter than --time"), std::string::npos) << s.message();
}

TEST(SlurmScript, QuotesPathsAndKeepsThemOutOfSbatchLines) {
  SlurmOptions o;
  o.job_name = "my model; `id`";
  o.time = "1:00:00";
  const BatchPaths p{"/opt/drift run/driftrun", "/r/it's/slurm/config.toml", "/r/it's", "/w/$(id)", "", ""};
  ASSERT_TRUE(ValidateBatchPaths(p).ok());
  const std::string s = RenderBatchScript(o, p);
  EXPECT_NE(s.find("#SBATCH --job-name=my_model___id_\n"), std::string::npos) << s;
  EXPECT_NE(s.find("cd '/w/$(id)' || exit 5"), std::string::npos) << s;
  EXPECT_NE(s.find("'/opt/drift run/driftrun' train --config '/r/it'\\''s/slurm/config.toml'"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("#SBATCH --signal=USR1@120\n"), std::string::npos);
  for (size_t at = s.find("#SBATCH"); at != std::string::npos; at = s.find("#SBATCH", at + 1)) {
    const std::string line = s.substr(at, s.find('\n', at) - at);
    EXPECT_EQ(line.find('/'), line.find("/dev/null")) << line;  // no path but /dev/null
  }
  EXPECT_EQ(ValidateBatchPaths({"/d", "/c", "/run\n#SBATCH --x", "/w", "", ""}).code(), Code::kUsage);
  EXPECT_EQ(ValidateBatchPaths({"/d", "/c", "relative", "/w", "", ""}).code(), Code::kUsage);
}

SlurmJobEnv Job(const std::string& id, int restart) {
  SlurmJobEnv e;
  e.in_job = true;
  e.job = id;
  e.restart = restart;
  return e;
}

TEST(SlurmAttempts, LostAttemptsSpendTheNodeFailureBudget) {
  const std::string run = FreshTestDir();
  // Attempt 0 starts and dies (no end line): a node failure.
  ASSERT_TRUE(BeginAttempt(run, Job("7", 0), 1).ok());
  AttemptHistory h = ReadAttempts(run, "7");
  EXPECT_EQ(h.started, 1);
  EXPECT_EQ(h.lost, 1);
  EXPECT_TRUE(h.last_lost);
  // One restart is within max_requeues = 1; it dies too.
  ASSERT_TRUE(BeginAttempt(run, Job("7", 1), 1).ok());
  // The second restart is past the budget.
  Status s = BeginAttempt(run, Job("7", 2), 1);
  EXPECT_EQ(s.code(), Code::kInfra);
  EXPECT_NE(s.message().find("max_requeues = 1"), std::string::npos) << s.message();
  // Another job (a new submission) has its own budget.
  EXPECT_TRUE(BeginAttempt(run, Job("8", 0), 1).ok());
  EXPECT_EQ(ReadAttempts(run, "8").started, 1);
}

TEST(SlurmAttempts, EndedAttemptsAreNotLostAndTornLinesCountForNothing) {
  const std::string run = FreshTestDir();
  ASSERT_TRUE(BeginAttempt(run, Job("9", 0), 0).ok());
  std::string said;
  ASSERT_TRUE(EndAttempt(run, Job("9", 0), AttemptEnd::kStopped, 100, 0, 0, &said).ok());
  EXPECT_TRUE(said.empty());
  ASSERT_TRUE(AppendLine(run + "/slurm/attempts.jsonl", "{\"event\":\"sta").ok());  // torn by a crash
  const AttemptHistory h = ReadAttempts(run, "9");
  EXPECT_EQ(h.lost, 0);
  EXPECT_FALSE(h.last_lost);
  EXPECT_TRUE(BeginAttempt(run, Job("9", 1), 0).ok());  // a preemption costs nothing
}

TEST(SlurmAttempts, TimeLimitPastTheBudgetIsAnErrorThatSaysHowToGoOn) {
  const std::string run = FreshTestDir();
  ASSERT_TRUE(BeginAttempt(run, Job("5", 0), 0).ok());
  std::string said;
  Status s = EndAttempt(run, Job("5", 0), AttemptEnd::kTimeLimit, 300, 0, 0, &said);
  EXPECT_EQ(s.code(), Code::kInfra);
  EXPECT_NE(s.message().find("--time"), std::string::npos) << s.message();
  EXPECT_EQ(ReadAttempts(run, "5").time_limit_requeues, 0);
}

}  // namespace
}  // namespace driftrun

namespace driftrun {
namespace {

TEST(SlurmPoll, NotFinalStatesWaitAndUnknownOnesToo) {
  for (const char* s :
       {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "PREEMPTED", "SUSPENDED",
        "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "SOMETHING_NEW", ""}) {
    EXPECT_EQ(SlurmPoll(s, "0:0").phase, JobPhase::kRunning) << s;
  }
}

TEST(SlurmPoll, FinalStatesGiveTheJobsExitCode) {
  EXPECT_EQ(SlurmPoll("COMPLETED", "0:0").exit_code, 0);
  EXPECT_EQ(SlurmPoll("FAILED", "3:0").exit_code, 3);
  EXPECT_EQ(SlurmPoll("FAILED", "0:9").exit_code, 137);
  EXPECT_EQ(SlurmPoll("CANCELLED", "0:15").exit_code, 143);
  for (const char* s : {"TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}) {
    const JobPoll p = SlurmPoll(s, "0:0");
    EXPECT_EQ(p.phase, JobPhase::kExited) << s;
    EXPECT_EQ(p.exit_code, 5) << s;
  }
}

}  // namespace
}  // namespace driftrun

namespace driftrun {
namespace {

Config SweepConfig(const std::string& sweep) {
  auto c = Config::FromString("[sweep]\n" + sweep, "sweep.toml", {});
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.value();
}

TEST(Sweep, GridIsEveryCombinationLastKeyFastest) {
  auto t =
      ExpandSweep(SweepConfig("params = [\"train.lr = [1e-3, 3e-3]\", \"model.hidden = [[8], [16, 16]]\"]"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t.value().size(), 4u);
  EXPECT_EQ(t.value()[0].sets, (std::vector<std::string>{"train.lr=0.001", "model.hidden=[8]"}));
  EXPECT_EQ(t.value()[1].sets, (std::vector<std::string>{"train.lr=0.001", "model.hidden=[16, 16]"}));
  EXPECT_EQ(t.value()[3].sets, (std::vector<std::string>{"train.lr=0.003", "model.hidden=[16, 16]"}));
  EXPECT_EQ(t.value()[2].params["train.lr"], 0.003);  // typed, as in JSON
  EXPECT_EQ(t.value()[3].params["model.hidden"], nlohmann::json({16, 16}));
  // Each trial's overrides load as a config.
  EXPECT_TRUE(Config::FromString("", "x", t.value()[3].sets).ok());
}

// Found by a stranger: "data.train = [\"../data/train.h5\"]" in a config's
// [sweep] resolved from the working directory, while the same path in its
// [data] section resolves from the config's folder.
TEST(Sweep, PathsInTheEntriesAreRelativeToTheConfigsFolder) {
  auto c =
      Config::FromString("[sweep]\nparams = [\"data.train = [[\\\"../d/a.h5\\\"], [\\\"/abs/b.h5\\\"]]\"]\n",
                         "/proj/cfg/sweep.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto t = ExpandSweep(c.value());
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t.value().size(), 2u);
  EXPECT_EQ(t.value()[0].sets, (std::vector<std::string>{"data.train=['/proj/d/a.h5']"}));
  EXPECT_EQ(t.value()[1].sets, (std::vector<std::string>{"data.train=['/abs/b.h5']"}));
  // Found by a stranger: `sweep status --json` gave the list as the string "['/proj/d/a.h5']".
  EXPECT_EQ(t.value()[0].params["data.train"], nlohmann::json({"/proj/d/a.h5"}));
}

// Found by a stranger: a value listed twice ran the same trial twice.
TEST(Sweep, AValueListedTwiceIsRefused) {
  auto t = ExpandSweep(SweepConfig("params = [\"train.seed = [1, 2]\", \"train.lr = [0.1, 2e-1, 1e-1]\"]"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kUsage);
  EXPECT_NE(t.status().message().find("sweep.params[1] gives train.lr the value 0.1 twice"),
            std::string::npos)
      << t.status().message();
}

// Found by a stranger: a trial that reached its time limit once more than
// slurm.max_requeues allows read "stopped (time_limit)", with no way on.
TEST(Sweep, ATrialPastItsRequeuesSaysHowToContinue) {
  const std::string dir = FreshTestDir();
  ASSERT_TRUE(WriteFileAtomic(dir + "/sweep.json", R"({"trials": [{"index": 0}, {"index": 1}]})").ok());
  const std::pair<const char*, const char*> ends[] = {
      {"/trial-0", R"({"event": "end", "cause": "time_limit", "requeued": false, "exit": 5, "step": 70})"},
      {"/trial-1", R"({"event": "end", "cause": "time_limit"})"}};
  for (const auto& [trial, line] : ends) {
    ASSERT_TRUE(MakeDirs(dir + trial + "/slurm").ok());
    ASSERT_TRUE(WriteFileAtomic(dir + trial + "/slurm/attempts.jsonl", std::string(line) + "\n").ok());
  }
  auto trials = ReadSweep(dir);
  ASSERT_TRUE(trials.ok()) << trials.status().message();
  EXPECT_EQ(trials.value()[0].state, "stopped");
  EXPECT_NE(trials.value()[0].reason.find("not requeued: continue it with a longer --time (driftrun submit "
                                          "--config " +
                                          dir + "/trial-0/slurm/config.toml"),
            std::string::npos)
      << trials.value()[0].reason;
  EXPECT_EQ(trials.value()[1].reason, "time_limit") << "requeued: Slurm runs it again";
  EXPECT_EQ(trials.value()[0].step, 70) << "the checkpoint's step";
}

TEST(Sweep, NoParamsIsNoSweepAndRandomIsAPureFunctionOfTheSeed) {
  auto none = ExpandSweep(SweepConfig(""));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.value().empty());
  const std::string spec =
      "method = \"random\"\ntrials = 6\nparams = [\"train.lr = [0.1, 0.2, 0.3]\", \"train.seed = [1, 2]\"]\n";
  auto a = ExpandSweep(SweepConfig(spec + "seed = 5\n"));
  auto b = ExpandSweep(SweepConfig(spec + "seed = 5\n"));
  auto c = ExpandSweep(SweepConfig(spec + "seed = 6\n"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_EQ(a.value().size(), 6u);
  bool differs = false;
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(a.value()[i].sets, b.value()[i].sets);
    differs = differs || a.value()[i].sets != c.value()[i].sets;
  }
  EXPECT_TRUE(differs);
  // Never the same combination twice; no more trials than combinations.
  for (size_t i = 0; i < 6; ++i) {
    for (size_t j = 0; j < i; ++j) EXPECT_NE(a.value()[i].sets, a.value()[j].sets) << i << " " << j;
  }
  auto too_many =
      ExpandSweep(SweepConfig("method = \"random\"\ntrials = 7\nparams = [\"train.lr = [0.1, 0.2, 0.3]\", "
                              "\"train.seed = [1, 2]\"]\n"));
  EXPECT_EQ(too_many.status().code(), Code::kUsage);
}

TEST(Sweep, RefusesATooLargeGridAndAKeyTwice) {
  std::string values = "[";
  for (int i = 0; i < 400; ++i) values += (i ? ", " : "") + std::to_string(i + 1);
  values += "]";
  auto big = ExpandSweep(
      SweepConfig("params = [\"train.seed = " + values + "\", \"train.epochs = " + values + "\"]"));
  EXPECT_EQ(big.status().code(), Code::kUsage);
  auto twice = ExpandSweep(SweepConfig("params = [\"train.lr = [0.1]\", \"train.lr = [0.2]\"]"));
  EXPECT_EQ(twice.status().code(), Code::kUsage);
}

}  // namespace
}  // namespace driftrun
