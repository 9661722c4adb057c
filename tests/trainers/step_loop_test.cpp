// The step loop alone, with threads as ranks (ThreadCommunicator), in-memory
// tensors and an injected clock: rank-count independence, stop requests, fault
// injection, interval checkpoints, NaN losses and exact continuation.
#include "trainers/step_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <mutex>

#include "dataio/sharding.h"
#include "tests/comm/thread_communicator.h"

namespace driftrun {
namespace {

constexpr int64_t kRows = 96, kDim = 4;

class FixedClock : public Clock {
 public:
  double Seconds() const override { return 100.0; }
};

// y = x . w + 0.1 x0^2 for a fixed w; made once (a function-local static, so
// the rank threads never draw from LibTorch's global RNG at the same time).
void MakeData(torch::Tensor* x, torch::Tensor* y) {
  static const std::pair<torch::Tensor, torch::Tensor> data = [] {
    torch::manual_seed(3);
    torch::Tensor a = torch::randn({kRows, kDim});
    torch::Tensor b =
        (a.matmul(torch::tensor({0.5f, -1.0f, 2.0f, 0.25f})) + 0.1 * a.select(1, 0).pow(2)).unsqueeze(1);
    return std::make_pair(a, b);
  }();
  *x = data.first;
  *y = data.second;
}

Session MakeSession(Communicator& world, const std::string& sets) {
  std::vector<std::string> overrides = {"train.batch_size=16",     "train.epochs=3", "model.hidden=[8]",
                                        "train.optimizer=\"sgd\"", "train.lr=0.05",  "train.seed=11"};
  for (size_t a = 0, b; a < sets.size(); a = b + 1) {
    b = sets.find(';', a);
    if (b == std::string::npos) b = sets.size();
    if (b > a) overrides.push_back(sets.substr(a, b - a));
  }
  auto cfg = Config::FromString("", "test", overrides);
  EXPECT_TRUE(cfg.ok()) << cfg.status().message();
  Session s;
  s.world = &world;
  s.grad_comm = &world;
  auto o = TrainOptions::FromConfig(cfg.value(), world.size());
  EXPECT_TRUE(o.ok()) << o.status().message();
  s.o = o.take();
  s.meta.rows = kRows;
  s.meta.dim = kDim;
  s.meta.shape = {kDim};
  for (int64_t i = 0; i < kRows; ++i) s.train_rows.push_back(i);
  std::tie(s.shard_begin, s.shard_end) = ContiguousShare(kRows, world.rank(), world.size());
  torch::Tensor x, y;
  MakeData(&x, &y);
  s.shard_x = x.narrow(0, s.shard_begin, s.shard_end - s.shard_begin).clone();
  s.shard_y = y.narrow(0, s.shard_begin, s.shard_end - s.shard_begin).clone();
  return s;
}

// BuildModel with its one local step serialised: threads as ranks share
// LibTorch's global RNG, which separate MPI processes do not.
Status BuildModelOnThreads(Session& s, const CheckpointState* resume) {
  static std::mutex mu;
  DRIFTRUN_RETURN_IF_ERROR(AgreeModelSpec(s));
  {
    std::lock_guard<std::mutex> lock(mu);
    DRIFTRUN_RETURN_IF_ERROR(InitModel(s));
  }
  return SyncModelState(s, resume, "test");
}

struct LoopRun {
  std::vector<Status> status;
  std::vector<LoopState> state;
  std::vector<std::vector<torch::Tensor>> weights;
  std::vector<std::vector<LoopPosition>> saves;
  std::vector<CheckpointState> snapshot;        // at the end of the loop, per rank
  std::vector<double> loss_before, loss_after;  // mean squared error on the rank's shard
};

// Runs the loop on `world` thread ranks. fault_step >= 0: a stop request on the
// last rank before that step. resume: a snapshot to continue from. pipeline:
// Session::step_pipeline (1: each step's loss read while the next one runs).
LoopRun RunLoop(int world, const std::string& sets, int64_t fault_step = -1,
                const CheckpointState* resume = nullptr, int pipeline = -1) {
  LoopRun run;
  run.status.resize(world);
  run.state.resize(world);
  run.weights.resize(world);
  run.saves.resize(world);
  run.snapshot.resize(world);
  run.loss_before.resize(world);
  run.loss_after.resize(world);
  FixedClock clock;
  RunRanks(world, [&](ThreadCommunicator& c) {
    const int r = c.rank();
    Session s = MakeSession(c, sets);
    s.step_pipeline = pipeline;
    ASSERT_TRUE(BuildModelOnThreads(s, resume).ok());
    std::atomic<int> stop{0};
    LoopHooks hooks;
    hooks.clock = &clock;
    hooks.stop = &stop;
    hooks.fault.signal_at_step = fault_step;
    hooks.fault.fire = [&] { stop = 1; };
    hooks.save = [&](const LoopPosition& at) {
      run.saves[r].push_back(at);
      return Status::Ok();
    };
    LoopState st;
    if (resume) {
      st.at = {resume->step,
               resume->epoch,
               resume->next_batch,
               resume->epoch_loss_sum,
               resume->epoch_loss_steps,
               resume->samples_seen};
    }
    auto shard_loss = [&] {
      torch::NoGradGuard ng;
      return torch::mse_loss(s.model->forward(s.shard_x), s.shard_y).item<double>();
    };
    run.loss_before[r] = shard_loss();
    run.status[r] = RunStepLoop(s, MakeLoopPlan(s), hooks, &st);
    run.loss_after[r] = shard_loss();
    run.state[r] = st;
    for (const auto& p : s.model->parameters()) run.weights[r].push_back(p.detach().clone());
    run.snapshot[r] = Snapshot(s, st.at, "h");
  });
  return run;
}

double MaxRelDiff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, (a[i] - b[i]).abs().max().item<double>());
    den = std::max(den, a[i].abs().max().item<double>());
  }
  return num / den;
}

bool BitEqual(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return a.size() == b.size();
}

TEST(StepLoop, TwoAndFourRanksEndWithTheOneRankWeights) {
  LoopRun one = RunLoop(1, "");
  ASSERT_TRUE(one.status[0].ok()) << one.status[0].message();
  EXPECT_EQ(one.state[0].at.step, 3 * kRows / 16);
  EXPECT_EQ(one.state[0].at.epoch, 3);
  EXPECT_FALSE(one.state[0].stopped);
  for (int world : {2, 4}) {
    LoopRun many = RunLoop(world, "");
    for (int r = 0; r < world; ++r) {
      ASSERT_TRUE(many.status[r].ok()) << many.status[r].message();
      EXPECT_EQ(many.state[r].at.step, one.state[0].at.step);
      EXPECT_TRUE(BitEqual(many.weights[r], many.weights[0])) << "replicas differ on rank " << r;
    }
    EXPECT_LT(MaxRelDiff(many.weights[0], one.weights[0]), 1e-5) << world << " ranks";
  }
}

TEST(StepLoop, TrainingLowersTheLossOnEveryRank) {
  LoopRun run = RunLoop(2, "train.epochs=20");
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(run.status[r].ok());
    EXPECT_EQ(run.state[r].at.epoch, 20);
    // A loop whose optimizer or all-reduce did nothing would leave it where it was.
    EXPECT_LT(run.loss_after[r], 0.5 * run.loss_before[r])
        << run.loss_before[r] << " -> " << run.loss_after[r];
  }
}

TEST(StepLoop, AStopOnOneRankStopsEveryRankAfterTheSameStep) {
  LoopRun run = RunLoop(4, "", /*fault_step=*/3);  // the request comes from rank 3 only
  for (int r = 0; r < 4; ++r) {
    ASSERT_TRUE(run.status[r].ok()) << run.status[r].message();
    EXPECT_TRUE(run.state[r].stopped) << r;
    EXPECT_EQ(run.state[r].at.step, 4) << r;  // step 3 ran, then everyone stopped
    EXPECT_EQ(run.state[r].at.epoch, 0) << r;
    EXPECT_EQ(run.state[r].at.next_batch, 4) << r;
    EXPECT_TRUE(run.saves[r].empty()) << r;  // checkpoint.every_steps = 100: none due
  }
}

TEST(StepLoop, IntervalCheckpointsAtEveryKthStepWithTheirPosition) {
  LoopRun run = RunLoop(2, "checkpoint.every_steps=4");
  ASSERT_TRUE(run.status[0].ok());
  // 6 batches per epoch, 18 steps: due at 4, 8, 12, 16 (not at the last step).
  std::vector<int64_t> steps, epochs, batches;
  for (const auto& p : run.saves[0]) {
    steps.push_back(p.step);
    epochs.push_back(p.epoch);
    batches.push_back(p.next_batch);
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{4, 8, 12, 16}));
  EXPECT_EQ(epochs, (std::vector<int64_t>{0, 1, 2, 2}));
  EXPECT_EQ(batches, (std::vector<int64_t>{4, 2, 0, 4}));  // step 12 ends epoch 1: saved as epoch 2, batch 0
  EXPECT_EQ(run.saves[1].size(), run.saves[0].size());
}

TEST(StepLoop, ANonFiniteLossFailsEveryRankWithoutACheckpoint) {
  std::vector<int> saves_by_mode;
  for (int pipeline : {0, 1}) {
    std::vector<Status> got(2);
    std::vector<int> saves(2, 0);
    RunRanks(2, [&](ThreadCommunicator& c) {
      Session s = MakeSession(c, "checkpoint.every_steps=1");
      s.step_pipeline = pipeline;
      if (c.rank() == 1) s.shard_y[3][0] = std::numeric_limits<float>::quiet_NaN();
      ASSERT_TRUE(BuildModelOnThreads(s, nullptr).ok());
      LoopHooks hooks;
      hooks.save = [&](const LoopPosition&) {
        ++saves[c.rank()];
        return Status::Ok();
      };
      LoopState st;
      got[c.rank()] = RunStepLoop(s, MakeLoopPlan(s), hooks, &st);
    });
    for (int r = 0; r < 2; ++r) {
      EXPECT_EQ(got[r].code(), Code::kTraining) << r;
      EXPECT_NE(got[r].message().find("training loss is NaN"), std::string::npos) << got[r].message();
    }
    EXPECT_EQ(saves[0], saves[1]);
    // The same checkpoints before the NaN step either way (none after it).
    saves_by_mode.push_back(saves[0]);
  }
  EXPECT_EQ(saves_by_mode[0], saves_by_mode[1]);
}

// The loop that reads each step's loss while the next step runs (the default
// on CUDA) ends where the waiting loop ends, bit for bit, with the same
// interval checkpoints, epoch losses and stop step (an injected stop drains it).
TEST(StepLoop, ThePipelinedLoopEqualsTheWaitingLoop) {
  for (int world : {1, 4}) {
    LoopRun wait = RunLoop(world, "checkpoint.every_steps=4", -1, nullptr, 0);
    LoopRun pipe = RunLoop(world, "checkpoint.every_steps=4", -1, nullptr, 1);
    for (int r = 0; r < world; ++r) {
      ASSERT_TRUE(pipe.status[r].ok()) << pipe.status[r].message();
      EXPECT_TRUE(BitEqual(pipe.weights[r], wait.weights[r])) << world << " ranks, rank " << r;
      EXPECT_EQ(pipe.state[r].at.step, wait.state[r].at.step);
      EXPECT_EQ(pipe.state[r].at.epoch_loss_sum, wait.state[r].at.epoch_loss_sum);
      EXPECT_EQ(pipe.state[r].steps_run, wait.state[r].steps_run);
      ASSERT_EQ(pipe.saves[r].size(), wait.saves[r].size());
      for (size_t k = 0; k < pipe.saves[r].size(); ++k) {
        EXPECT_EQ(pipe.saves[r][k].step, wait.saves[r][k].step);
        EXPECT_EQ(pipe.saves[r][k].next_batch, wait.saves[r][k].next_batch);
        EXPECT_EQ(pipe.saves[r][k].epoch_loss_sum, wait.saves[r][k].epoch_loss_sum);
      }
    }
  }
  LoopRun whole = RunLoop(2, "", -1, nullptr, 0);
  LoopRun first = RunLoop(2, "", /*fault_step=*/7, nullptr, 1);
  ASSERT_TRUE(first.state[0].stopped);
  EXPECT_EQ(first.state[0].at.step, 8);
  LoopRun rest = RunLoop(2, "", -1, &first.snapshot[0], 1);
  EXPECT_TRUE(BitEqual(rest.weights[0], whole.weights[0]));
}

TEST(StepLoop, ContinuingFromASnapshotIsExact) {
  LoopRun whole = RunLoop(2, "");
  LoopRun first = RunLoop(2, "", /*fault_step=*/7);
  ASSERT_TRUE(first.state[0].stopped);
  // Continue on another number of ranks from rank 0's snapshot.
  LoopRun rest = RunLoop(1, "", -1, &first.snapshot[0]);
  ASSERT_TRUE(rest.status[0].ok()) << rest.status[0].message();
  EXPECT_EQ(rest.state[0].at.step, whole.state[0].at.step);
  EXPECT_LT(MaxRelDiff(rest.weights[0], whole.weights[0]), 1e-5);
  LoopRun rest2 = RunLoop(2, "", -1, &first.snapshot[0]);
  EXPECT_TRUE(BitEqual(rest2.weights[0], whole.weights[0])) << "same rank count must be bit-identical";
}

TEST(StepLoop, TheInjectedClockTimesTheRun) {
  // A clock that never moves: every epoch took 0 s, so the loop's timing comes
  // from the clock and not from the system (the rate is then steps / 1e-9 s).
  LoopRun run = RunLoop(1, "");
  EXPECT_EQ(run.state[0].train_seconds, 0.0);
}

}  // namespace
}  // namespace driftrun

namespace driftrun {

// Found by a stranger: four out-of-range values took four tries, one per run.
TEST(TrainOptions, EveryOutOfRangeValueIsReportedAtOnce) {
  auto cfg = Config::FromString(
      "[data]\nval_fraction = 1.5\n[train]\nbatch_size = -64\nlr = -3e-3\n"
      "[checkpoint]\nkeep = -1\n",
      "e.toml", {});
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  auto o = TrainOptions::FromConfig(cfg.value(), 1);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), Code::kUsage);
  const std::string& m = o.status().message();
  for (const char* want : {"e.toml:2: key 'data.val_fraction'", "e.toml:4: key 'train.batch_size'",
                           "e.toml:5: key 'train.lr'", "e.toml:7: key 'checkpoint.keep'"})
    EXPECT_NE(m.find(want), std::string::npos) << want << " in:\n" << m;
}

}  // namespace driftrun
