#include "trainers/grad_reducer.h"

#include <gtest/gtest.h>

#include "comm/collectives.h"
#include "tests/comm/thread_communicator.h"
#include "trainers/spec_model.h"

namespace driftrun {
namespace {

SpecModel MakeModel() {
  torch::manual_seed(3);
  ModelOptions o;
  o.hidden = {16, 8};
  return SpecModel(BuildModelSpec(o, {6}, 2).value());
}

NamedTensors Named(SpecModel& m) {
  NamedTensors out;
  for (auto& p : m->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

torch::Tensor InputFor(int rank) {
  torch::manual_seed(100 + rank);
  return torch::randn({5, 6});
}

// Reference: each rank's gradients computed alone, summed.
std::vector<torch::Tensor> ReferenceSum(int world) {
  std::vector<torch::Tensor> sum;
  for (int r = 0; r < world; ++r) {
    SpecModel m = MakeModel();
    m->forward(InputFor(r)).pow(2).sum().backward();
    auto params = m->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      if (r == 0)
        sum.push_back(params[i].grad().clone());
      else
        sum[i] += params[i].grad();
    }
  }
  return sum;
}

class GradReducerTest : public ::testing::TestWithParam<std::tuple<int, size_t>> {};

TEST_P(GradReducerTest, GradientsAreSummedAcrossRanksForAnyBucketSize) {
  const auto [world, bucket_bytes] = GetParam();
  torch::set_num_threads(1);
  const auto want = ReferenceSum(world);
  std::vector<std::vector<torch::Tensor>> got(world);
  std::vector<size_t> launched(world), buckets(world);
  // Models and inputs are made before the threads start: the global generator
  // is not for concurrent seeding.
  std::vector<SpecModel> models;
  std::vector<torch::Tensor> inputs;
  for (int r = 0; r < world; ++r) {
    models.push_back(MakeModel());
    inputs.push_back(InputFor(r));
  }
  RunRanks(world, [&](ThreadCommunicator& comm) {
    SpecModel m = models[comm.rank()];
    FlatParams flat = FlatParams::Make(Named(m)).value();
    GradReducer reducer(comm, &flat, bucket_bytes);
    for (int step = 0; step < 2; ++step) {  // a second step reuses the buffers
      flat.ZeroGrad();
      reducer.Prepare();
      m->forward(inputs[comm.rank()]).pow(2).sum().backward();
      ASSERT_TRUE(reducer.Finish().ok());
    }
    for (auto& p : m->parameters()) got[comm.rank()].push_back(p.grad().clone());
    launched[comm.rank()] = reducer.launched_during_backward();
    buckets[comm.rank()] = reducer.buckets().size();
  });
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(got[r].size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(torch::allclose(got[r][i], want[i], 1e-5, 1e-6)) << "rank " << r << " param " << i;
    }
  }
  // With small buckets, all but the last are launched from hooks during backward.
  if (buckets[0] > 1) {
    EXPECT_GE(launched[0], buckets[0] - 1);
  }
}

INSTANTIATE_TEST_SUITE_P(WorldsAndBuckets, GradReducerTest,
                         ::testing::Combine(::testing::Values(1, 2, 3),
                                            ::testing::Values(size_t{64}, size_t{600}, size_t{1} << 25)));

TEST(GradReducer, UnusedParameterContributesZeros) {
  torch::set_num_threads(1);
  RunRanks(2, [&](ThreadCommunicator& comm) {
    auto used = torch::ones({3}, torch::requires_grad());
    auto unused = torch::ones({2}, torch::requires_grad());
    FlatParams flat = FlatParams::Make({{"used", used}, {"unused", unused}}).value();
    GradReducer reducer(comm, &flat, 8);
    flat.ZeroGrad();
    reducer.Prepare();
    (used * (comm.rank() + 1)).sum().backward();
    ASSERT_TRUE(reducer.Finish().ok());
    EXPECT_TRUE(torch::equal(used.grad(), torch::full({3}, 3.0f)));
    EXPECT_TRUE(torch::equal(unused.grad(), torch::zeros({2})));
  });
}

TEST(Collectives, AgreeStatusSpreadsTheWorstCodeAndDedupeKeepsOneMessage) {
  RunRanks(3, [&](ThreadCommunicator& comm) {
    Status local = comm.rank() == 1 ? Status::Data("bad row 7") : Status::Ok();
    Status agreed = AgreeStatus(comm, local);
    EXPECT_EQ(agreed.code(), Code::kData);
    EXPECT_EQ(agreed.message().empty(), comm.rank() != 1);
    Status same = DedupeStatus(comm, Status::Usage("batch does not divide"));
    EXPECT_EQ(same.code(), Code::kUsage);
    EXPECT_EQ(same.message().empty(), comm.rank() != 0);
    std::string s = comm.rank() == 0 ? std::string(1000, 'x') : "";
    ASSERT_TRUE(BroadcastString(comm, &s).ok());
    EXPECT_EQ(s.size(), 1000u);
  });
}

}  // namespace
}  // namespace driftrun
