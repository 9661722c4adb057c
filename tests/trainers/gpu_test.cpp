// Tests that need a GPU: a one-rank NCCL communicator, and CUDA training equal to
// CPU training on the same data. Without a GPU (or in a build without CUDA) they
// are skipped, never passed.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "comm/local_communicator.h"
#include "common/config.h"
#include "dataio/synthetic_data.h"
#include "models/checkpoint.h"
#include "tests/common/test_paths.h"
#include "trainers/direct_mlp.h"
#include "trainers/spec_model.h"
#include "trainers/trainer.h"
#ifdef DRIFTRUN_WITH_CUDA
#include "comm/nccl_communicator.h"
#include "trainers/cuda_graph.h"
#include "trainers/cuda_stream.h"
#endif

namespace driftrun {
namespace {

bool HaveGpu() {
#ifdef DRIFTRUN_WITH_CUDA
  return torch::cuda::is_available();
#else
  return false;
#endif
}

TEST(Gpu, NcclOneRankAllReduceAndBroadcast) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU (or a build without CUDA)";
#ifdef DRIFTRUN_WITH_CUDA
  LocalCommunicator host;
  auto nc = NcclCommunicator::Create(host, 0, CurrentCudaStream(0), 60);
  ASSERT_TRUE(nc.ok()) << nc.status().ToString();
  // One rank: a sum, max or broadcast leaves the values as they are, so the
  // values change between the collectives (kernels on the same stream, ordered
  // before and after each NCCL call) and every result is checked against values
  // computed by hand on the host. The reduction across ranks itself is covered
  // by the MPI tests; NCCL refuses two ranks on one GPU.
  const auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kFloat);
  torch::Tensor t = torch::arange(1000, opts);
  t.mul_(3);  // queued before the all-reduce on the current stream
  ASSERT_TRUE(nc.value()->AllReduce(t.data_ptr(), t.numel(), DType::kFloat32, ReduceOp::kSum).ok());
  std::vector<float> want(1000);
  for (int i = 0; i < 1000; ++i) want[i] = 3.0f * i;
  EXPECT_TRUE(torch::equal(t.cpu(), torch::from_blob(want.data(), {1000}, torch::kFloat)));
  t.add_(-7);
  auto w = nc.value()->AllReduceAsync(t.data_ptr(), t.numel(), DType::kFloat32, ReduceOp::kMax);
  ASSERT_TRUE(w->Wait().ok());
  t.mul_(2);
  ASSERT_TRUE(nc.value()->Broadcast(t.data_ptr(), t.numel(), DType::kFloat32, 0).ok());
  ASSERT_TRUE(nc.value()->Barrier().ok());
  for (int i = 0; i < 1000; ++i) want[i] = (3.0f * i - 7.0f) * 2.0f;
  EXPECT_TRUE(torch::equal(t.cpu(), torch::from_blob(want.data(), {1000}, torch::kFloat)));
  // int64 and float64 go through their own NCCL types.
  torch::Tensor l =
      torch::arange(5, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kLong)).mul_(1000000007);
  ASSERT_TRUE(nc.value()->AllReduce(l.data_ptr(), l.numel(), DType::kInt64, ReduceOp::kSum).ok());
  EXPECT_EQ(l.cpu()[4].item<int64_t>(), int64_t{4} * 1000000007);
  torch::Tensor d = torch::full({3}, 0.1, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kDouble));
  ASSERT_TRUE(nc.value()->AllReduce(d.data_ptr(), d.numel(), DType::kFloat64, ReduceOp::kMin).ok());
  EXPECT_EQ(d.cpu()[2].item<double>(), 0.1);
#endif
}

// Trains the same config on CPU and on CUDA (one rank) and compares the weights.
// SGD: differences stay at float rounding; AdamW divides by sqrt(v), which
// amplifies rounding differences of near-zero gradients over 58 steps, so its
// bound is looser.
struct GpuCase {
  const char* name;
  std::vector<std::string> sets;
  double tolerance;
};

// Test names and CTest labels show the case's name, not its bytes.
void PrintTo(const GpuCase& c, std::ostream* os) {
  *os << c.name;
}

class GpuTraining : public ::testing::TestWithParam<GpuCase> {};

TEST_P(GpuTraining, CudaEqualsCpu) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU (or a build without CUDA)";
  const std::string dir = FreshTestDir();
  SyntheticOptions data;
  data.rows = 2048;
  data.features = 8;
  std::vector<std::string> written;
  ASSERT_TRUE(WriteSynthetic(dir + "/data", data, &written).ok());
  std::vector<std::vector<float>> weights;
  for (const char* device : {"cpu", "cuda"}) {
    std::vector<std::string> sets = {"data.train=\"" + dir + "/data/train.h5\"",
                                     "model.hidden=[32, 32]",
                                     "train.epochs=2",
                                     "train.batch_size=64",
                                     "train.lr=1e-3",
                                     std::string("train.device=") + device,
                                     "dist.backend=\"auto\""};
    sets.insert(sets.end(), GetParam().sets.begin(), GetParam().sets.end());
    auto cfg = Config::FromString("", "gpu_test", sets);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    LocalCommunicator world;
    TrainRequest req;
    req.run_dir = dir + "/run-" + device;
    req.quiet = true;
    auto r = Train(world, cfg.value(), req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto ck = ReadCheckpoint(r.value().last_checkpoint);
    ASSERT_TRUE(ck.ok());
    std::vector<float> flat;
    for (const auto& a : ck.value().model) flat.insert(flat.end(), a.data.begin(), a.data.end());
    weights.push_back(flat);
  }
  ASSERT_EQ(weights[0].size(), weights[1].size());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < weights[0].size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(weights[0][i] - weights[1][i])));
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(weights[0][i])));
  }
  EXPECT_LT(max_diff / max_abs, GetParam().tolerance) << "max abs diff " << max_diff;
  std::printf("[gpu] cuda vs cpu weights (%s): max abs diff %.3g (relative %.3g)\n", GetParam().name,
              max_diff, max_diff / max_abs);
}

// The step replayed from a CUDA graph gives the eager step's loss and
// gradients for new data every step (the static inputs are refilled), and a
// batch of another shape runs eagerly.
TEST(Gpu, CudaGraphStepEqualsEagerStep) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU (or a build without CUDA)";
#ifdef DRIFTRUN_WITH_CUDA
  for (bool classification : {false, true}) {
    ModelOptions mo;
    mo.task = classification ? "classification" : "regression";
    mo.hidden = {64, 32};
    const ModelSpec spec = BuildModelSpec(mo, {10}, classification ? 4 : 2).take();
    auto make = [&](SpecModel* m) {
      torch::manual_seed(3);
      *m = SpecModel(spec);
      (*m)->to(torch::kCUDA);
      NamedTensors named;
      for (auto& p : (*m)->named_parameters()) named.emplace_back(p.key(), p.value());
      return std::make_unique<FlatParams>(FlatParams::Make(named).take());
    };
    SpecModel ma{nullptr}, mb{nullptr};
    auto fa = make(&ma), fb = make(&mb);
    auto da = DirectMlp::Make(spec, *fa, classification), db = DirectMlp::Make(spec, *fb, classification);
    ASSERT_TRUE(da && db);
    CudaGraphStep graph(db.get());
    const auto opts = torch::TensorOptions().device(torch::kCUDA);
    for (int64_t rows : {16, 16, 16, 16, 5, 16}) {
      torch::Tensor x = torch::randn({rows, 10}, opts);
      torch::Tensor y = classification ? torch::randint(4, {rows}, opts.dtype(torch::kLong))
                                       : torch::randn({rows, 2}, opts);
      torch::Tensor la = da->Step(x, y, 16.0, {});
      std::vector<size_t> reported;
      auto lb = graph.Step(x, y, 16.0, [&](size_t i) { reported.push_back(i); });
      ASSERT_TRUE(lb.ok()) << lb.status().ToString();
      EXPECT_TRUE(torch::allclose(la, lb.value(), 1e-6, 1e-7))
          << la.item<double>() << " vs " << lb.value().item<double>();
      EXPECT_TRUE(torch::allclose(fa->grad(), fb->grad(), 1e-5, 1e-7))
          << rows << " rows: max diff " << (fa->grad() - fb->grad()).abs().max().item<double>();
      EXPECT_EQ(reported, db->GradOrder());
    }
    EXPECT_EQ(graph.replays(), 5) << "the 5-row batch ran eagerly, the 16-row ones from the graph";
  }
#endif
}

INSTANTIATE_TEST_SUITE_P(Gpu, GpuTraining,
                         ::testing::Values(GpuCase{"sgd", {"train.optimizer=\"sgd\"", "train.lr=0.05"}, 1e-5},
                                           GpuCase{"adamw", {}, 2e-3}),
                         [](const ::testing::TestParamInfo<GpuCase>& i) {
                           return std::string(i.param.name);
                         });

}  // namespace
}  // namespace driftrun
