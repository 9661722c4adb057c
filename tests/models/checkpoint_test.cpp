#include "models/checkpoint.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <fstream>

#include "common/file_util.h"
#include "dataio/h5_io.h"
#include "tests/common/test_paths.h"

namespace driftrun {
namespace {

CheckpointState Sample(int64_t step, const std::string& run_id = "run-a") {
  CheckpointState s;
  s.run_id = run_id;
  s.step = step;
  s.epoch = 2;
  s.next_batch = 5;
  s.world_size = 3;
  s.in_dim = 2;
  s.out_dim = 1;
  s.config_hash = "abc";
  s.task = "regression";
  s.epoch_loss_sum = 1.5;
  s.epoch_loss_steps = 5;
  s.model.push_back({"layers.0.weight", {1, 2}, {0.5f, static_cast<float>(step)}});
  s.model.push_back({"layers.0.bias", {1}, {-1.0f}});
  s.optim.push_back({"layers.0.weight/exp_avg", {1, 2}, {0.1f, 0.2f}});
  s.pre.params = {{1, 1, 0.5f, -3, 3}, {2, 2, 0.25f, -3, 3}};
  return s;
}

TEST(Checkpoint, RoundTripKeepsEverything) {
  std::string dir = FreshTestDir();
  auto m = WriteCheckpoint(dir, Sample(100), 3);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto r = ReadCheckpoint(m.value());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const CheckpointState& s = r.value();
  EXPECT_EQ(s.step, 100);
  EXPECT_EQ(s.epoch, 2);
  EXPECT_EQ(s.next_batch, 5);
  EXPECT_EQ(s.world_size, 3);
  EXPECT_EQ(s.config_hash, "abc");
  EXPECT_DOUBLE_EQ(s.epoch_loss_sum, 1.5);
  ASSERT_EQ(s.model.size(), 2u);
  bool found = false;
  for (const auto& a : s.model) {
    if (a.name == "layers.0.weight") {
      found = true;
      EXPECT_EQ(a.dims, (std::vector<int64_t>{1, 2}));
      EXPECT_EQ(a.data, (std::vector<float>{0.5f, 100.0f}));
    }
  }
  EXPECT_TRUE(found);
  ASSERT_EQ(s.optim.size(), 1u);
  EXPECT_EQ(s.optim[0].name, "layers.0.weight/exp_avg");
  ASSERT_EQ(s.pre.params.size(), 2u);
  EXPECT_EQ(s.pre.params[1].scale, 0.25f);
  EXPECT_EQ(s.pre.params[0].lo, -3.0f);
}

TEST(Checkpoint, KeepsTheLastKAndNoTemporaries) {
  std::string dir = FreshTestDir();
  for (int64_t step : {10, 20, 30, 40, 50}) ASSERT_TRUE(WriteCheckpoint(dir, Sample(step), 2).ok());
  EXPECT_EQ(ListDir(dir), (std::vector<std::string>{"ckpt-000000040.h5", "ckpt-000000040.json",
                                                    "ckpt-000000050.h5", "ckpt-000000050.json"}));
}

// Found by a stranger: a run that diverged slowly kept only diverged
// checkpoints; the healthy ones had been pruned.
TEST(Checkpoint, PruningAlsoKeepsTheLowestTrainingLoss) {
  std::string dir = FreshTestDir();
  const std::vector<std::pair<int64_t, double>> steps = {
      {10, 1.0}, {20, 0.5}, {30, 3.0}, {40, 9.0}, {50, 27.0}};
  for (auto [step, loss] : steps) {
    CheckpointState s = Sample(step);
    s.train_loss = loss;
    ASSERT_TRUE(WriteCheckpoint(dir, s, 2).ok());
  }
  EXPECT_EQ(ListDir(dir),
            (std::vector<std::string>{"ckpt-000000020.h5", "ckpt-000000020.json", "ckpt-000000040.h5",
                                      "ckpt-000000040.json", "ckpt-000000050.h5", "ckpt-000000050.json"}));
  EXPECT_EQ(LowestLossCheckpoint(dir, "run-a"), dir + "/ckpt-000000020.json");
  EXPECT_EQ(LowestLossCheckpoint(dir, "run-b"), "");
  CheckpointState better = Sample(60);  // a new lowest: the old best is pruned like any other
  better.train_loss = 0.25;
  ASSERT_TRUE(WriteCheckpoint(dir, better, 2).ok());
  EXPECT_EQ(ListDir(dir), (std::vector<std::string>{"ckpt-000000050.h5", "ckpt-000000050.json",
                                                    "ckpt-000000060.h5", "ckpt-000000060.json"}));
}

TEST(Checkpoint, CorruptNewestIsSkippedWithAWarning) {
  std::string dir = FreshTestDir();
  ASSERT_TRUE(WriteCheckpoint(dir, Sample(10), 3).ok());
  auto newest = WriteCheckpoint(dir, Sample(20), 3).take();
  {
    std::fstream f(dir + "/ckpt-000000020.h5", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(600);
    f.put('\x5a');
  }
  EXPECT_EQ(VerifyCheckpoint(newest).code(), Code::kData);
  std::vector<std::string> warnings;
  EXPECT_EQ(FindLatestCheckpoint(dir, &warnings), dir + "/ckpt-000000010.json");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("sha256"), std::string::npos) << warnings[0];
}

TEST(Checkpoint, TruncatedOrMissingPiecesAreInvalid) {
  std::string dir = FreshTestDir();
  auto m = WriteCheckpoint(dir, Sample(10), 3).take();
  ASSERT_EQ(::truncate((dir + "/ckpt-000000010.h5").c_str(), 100), 0);
  EXPECT_FALSE(VerifyCheckpoint(m).ok());
  auto m2 = WriteCheckpoint(dir, Sample(20), 3).take();
  std::ofstream(m2) << "{\"format\": ";
  EXPECT_FALSE(VerifyCheckpoint(m2).ok());
  std::vector<std::string> warnings;
  EXPECT_EQ(FindLatestCheckpoint(dir, &warnings), "");
  EXPECT_EQ(warnings.size(), 2u);
  // A data file without a manifest (a crash between the two writes) is ignored.
  std::string dir2 = FreshTestDir() + "_b";
  ASSERT_TRUE(MakeDirs(dir2).ok());
  ASSERT_TRUE(WriteCheckpoint(dir2, Sample(30), 3).ok());
  RemoveTree(dir2 + "/ckpt-000000030.json");
  EXPECT_EQ(FindLatestCheckpoint(dir2, nullptr), "");
}

TEST(Checkpoint, UnwritableFolderIsInfra) {
  // A folder that cannot be created (its parent is a regular file), as root too.
  std::string dir = FreshTestDir();
  std::ofstream(dir + "/file") << "x";
  auto m = WriteCheckpoint(dir + "/file/sub", Sample(1), 3);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kInfra);
  EXPECT_NE(m.status().message().find("/file"), std::string::npos) << m.status().message();
}

TEST(Checkpoint, PruningKeepsThisRunsNewestEvenBesideAnotherRunsLaterSteps) {
  std::string dir = FreshTestDir();
  for (int64_t step : {1000, 2000}) ASSERT_TRUE(WriteCheckpoint(dir, Sample(step, "old-run"), 1).ok());
  // A new run (restarted at step 0) in the same folder, keep = 1.
  std::string last;
  for (int64_t step : {10, 20}) last = WriteCheckpoint(dir, Sample(step, "new-run"), 1).take();
  EXPECT_EQ(last, dir + "/ckpt-000000020.json");
  EXPECT_TRUE(PathExists(last));
  EXPECT_FALSE(PathExists(dir + "/ckpt-000000010.json"));
  EXPECT_TRUE(PathExists(dir + "/ckpt-000002000.json"));  // not this run's to delete
  std::vector<std::string> w;
  EXPECT_EQ(FindLatestCheckpoint(dir, &w), last);  // the newest written, not the highest step
  EXPECT_EQ(ReadCheckpoint(last).value().run_id, "new-run");
}

TEST(Checkpoint, ACorruptNewestDoesNotEvictTheCheckpointsWrittenAfterIt) {
  std::string dir = FreshTestDir();
  ASSERT_TRUE(WriteCheckpoint(dir, Sample(10), 1).ok());
  ASSERT_TRUE(WriteCheckpoint(dir, Sample(20), 1).ok());
  {
    std::fstream f(dir + "/ckpt-000000020.h5", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(600);
    f.put('\x5a');
  }
  // Resumed from an earlier state (step 15), keep = 1: what is written stays.
  auto m = WriteCheckpoint(dir, Sample(15), 1).take();
  EXPECT_TRUE(PathExists(m));
  std::vector<std::string> w;
  EXPECT_EQ(FindLatestCheckpoint(dir, &w), m);
  EXPECT_TRUE(w.empty());
}

TEST(Checkpoint, AManifestNamingAFileElsewhereIsRefused) {
  std::string dir = FreshTestDir();
  auto m = WriteCheckpoint(dir, Sample(10), 3).take();
  ASSERT_TRUE(MakeDirs(dir + "/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/sub/x.h5", ReadFile(dir + "/ckpt-000000010.h5").value()).ok());
  std::string text = ReadFile(m).value();
  text.replace(text.find("ckpt-000000010.h5"), 17, "sub/x.h5");
  ASSERT_TRUE(WriteFileAtomic(m, text).ok());
  Status st = VerifyCheckpoint(m);
  EXPECT_EQ(st.code(), Code::kData);
  EXPECT_NE(st.message().find("only name a file in its own folder"), std::string::npos) << st.message();
  EXPECT_EQ(ReadCheckpoint(m).status().code(), Code::kData);
}

TEST(Checkpoint, ManifestFieldsOfTheWrongTypeDoNotThrow) {
  std::string dir = FreshTestDir();
  auto m = WriteCheckpoint(dir, Sample(10), 3).take();
  std::string text = ReadFile(m).value();
  text.replace(text.find("\"run_id\": \"run-a\""), 17, "\"run_id\": 5");
  text.replace(text.find("\"serial\": 1"), 11, "\"serial\": \"x\"");
  ASSERT_TRUE(WriteFileAtomic(m, text).ok());
  std::vector<std::string> w;
  EXPECT_EQ(FindLatestCheckpoint(dir, &w), m);
  auto ck = ReadCheckpoint(m);
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  EXPECT_EQ(ck.value().run_id, "");
  EXPECT_TRUE(WriteCheckpoint(dir, Sample(20), 1).ok());
  text.replace(text.find("\"format\""), 8, "\"format\": 7, \"f\"");
  ASSERT_TRUE(WriteFileAtomic(m, text).ok());
  EXPECT_EQ(VerifyCheckpoint(m).code(), Code::kData);
}

TEST(Checkpoint, MissingOrNonCountAttributesAreDamageNotZero) {
  std::string dir = FreshTestDir();
  for (double bad : {std::nan(""), 1e300, -3.0, 2.5}) {
    const std::string path = dir + "/fake.h5";
    {
      auto w = H5Writer::Create(path).take();
      for (const char* k :
           {"epoch", "next_batch", "world_size", "classes", "in_dim", "out_dim", "epoch_loss_steps"})
        ASSERT_TRUE(w->AttrDouble("/", k, 1).ok());
      ASSERT_TRUE(w->AttrDouble("/", "step", bad).ok());
      ASSERT_TRUE(w->Commit().ok());
    }
    auto r = ReadCheckpointData(path, "");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kData) << bad;
    EXPECT_NE(r.status().message().find("'step' is not a count"), std::string::npos) << r.status().message();
  }
  {
    auto w = H5Writer::Create(dir + "/nostep.h5").take();
    ASSERT_TRUE(w->AttrDouble("/", "epoch", 1).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  auto r = ReadCheckpointData(dir + "/nostep.h5", "");
  EXPECT_EQ(r.status().code(), Code::kData);
  EXPECT_NE(r.status().message().find("no attribute 'step'"), std::string::npos) << r.status().message();
}

// The running loss and sample count are part of the state a resume continues
// from: missing or NaN is damage, never a silent 0.
TEST(Checkpoint, MissingOrNonFiniteRealAttributesAreDamage) {
  std::string dir = FreshTestDir();
  for (double bad : {std::nan(""), HUGE_VAL}) {
    for (bool present : {true, false}) {
      const std::string path = dir + "/fake.h5";
      {
        auto w = H5Writer::Create(path).take();
        for (const char* k : {"step", "epoch", "next_batch", "world_size", "classes", "in_dim", "out_dim",
                              "epoch_loss_steps", "epoch_loss_sum"})
          ASSERT_TRUE(w->AttrDouble("/", k, 1).ok());
        if (present) {
          ASSERT_TRUE(w->AttrDouble("/", "samples_seen", bad).ok());
        }
        ASSERT_TRUE(w->Commit().ok());
      }
      auto r = ReadCheckpointData(path, "");
      ASSERT_FALSE(r.ok()) << bad;
      EXPECT_EQ(r.status().code(), Code::kData) << bad;
      EXPECT_NE(r.status().message().find(present ? "'samples_seen' is not a finite number"
                                                  : "'samples_seen' is missing"),
                std::string::npos)
          << r.status().message();
    }
  }
}

}  // namespace
}  // namespace driftrun
