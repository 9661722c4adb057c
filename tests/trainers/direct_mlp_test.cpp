#include "trainers/direct_mlp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainers/spec_model.h"

namespace driftrun {
namespace {

struct Case {
  std::string activation;
  std::vector<int64_t> hidden;
  bool classification;
  int64_t out;    // outputs (classes or label columns)
  int64_t batch;  // rows
  double denom;   // the global batch's element count
};

// A module, its flat buffers, and one batch.
struct Net {
  SpecModel model{nullptr};
  std::unique_ptr<FlatParams> flat;
  torch::Tensor x, y;
};

Net MakeNet(const Case& c, const ModelSpec& spec) {
  torch::manual_seed(7);
  Net n;
  n.model = SpecModel(spec);
  NamedTensors named;
  for (auto& p : n.model->named_parameters()) named.emplace_back(p.key(), p.value());
  n.flat = std::make_unique<FlatParams>(FlatParams::Make(named).take());
  n.x = torch::randn({c.batch, 6});
  n.y = c.classification ? torch::randint(c.out, {c.batch}, torch::kLong) : torch::randn({c.batch, c.out});
  return n;
}

// The hand-written step gives exactly the loss and gradients of autograd on
// the module (what the training step did before), for every activation and
// both losses; each parameter is reported once.
TEST(DirectMlp, EqualsAutogradBitForBit) {
  const std::vector<Case> cases = {
      {"relu", {16, 8}, false, 1, 32, 256}, {"tanh", {16, 8}, false, 3, 7, 100},
      {"sigmoid", {5}, false, 2, 1, 6},     {"gelu", {16, 8}, false, 1, 33, 33},
      {"relu", {16, 8}, true, 4, 32, 64},   {"tanh", {}, true, 3, 9, 9},
      {"gelu", {12}, true, 5, 128, 300},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.activation + (c.classification ? " classification" : " regression") + " batch " +
                 std::to_string(c.batch));
    ModelOptions mo;
    mo.task = c.classification ? "classification" : "regression";
    mo.hidden = c.hidden;
    mo.activation = c.activation;
    ModelSpec spec = BuildModelSpec(mo, {6}, c.out).take();
    Net a = MakeNet(c, spec), b = MakeNet(c, spec);
    ASSERT_TRUE(torch::equal(a.flat->data(), b.flat->data()));

    a.flat->ZeroGrad();
    torch::Tensor pred = a.model->forward(a.x);
    torch::Tensor la = c.classification ? torch::cross_entropy_loss(pred, a.y, {}, at::Reduction::Sum)
                                        : torch::mse_loss(pred, a.y, at::Reduction::Sum);
    (la / c.denom).backward();

    auto direct = DirectMlp::Make(spec, *b.flat, c.classification);
    ASSERT_NE(direct, nullptr);
    for (size_t i = 0; i < b.flat->size(); ++i)  // every gradient is overwritten, none accumulated
      b.flat->View(b.flat->grad(), i).fill_(12345);
    std::vector<int> reported(b.flat->size(), 0);
    torch::Tensor lb = direct->Step(b.x, b.y, c.denom, [&](size_t i) { ++reported[i]; });
    EXPECT_TRUE(torch::equal(la.detach(), lb)) << la.item<double>() << " vs " << lb.item<double>();
    EXPECT_TRUE(torch::equal(a.flat->grad(), b.flat->grad()))
        << "max difference " << (a.flat->grad() - b.flat->grad()).abs().max().item<double>();
    for (size_t i = 0; i < b.flat->size(); ++i)
      EXPECT_TRUE(torch::equal(a.flat->View(a.flat->grad(), i), b.flat->View(b.flat->grad(), i)))
          << b.flat->name(i);
    EXPECT_EQ(reported, std::vector<int>(b.flat->size(), 1));
    // Nothing of the graph is left: the parameters' values did not change.
    EXPECT_TRUE(torch::equal(a.flat->data(), b.flat->data()));
  }
}

TEST(DirectMlp, LeavesOtherModelsToAutograd) {
  ModelOptions mo;
  mo.hidden = {8};
  mo.dropout = 0.2;
  ModelSpec with_dropout = BuildModelSpec(mo, {6}, 1).take();
  Net n = MakeNet({"relu", {8}, false, 1, 4, 4}, with_dropout);
  EXPECT_EQ(DirectMlp::Make(with_dropout, *n.flat, false), nullptr) << "dropout needs its mask";

  ModelOptions co;
  co.kind = "cnn";
  co.channels = {2};
  co.hidden = {4};
  ModelSpec cnn = BuildModelSpec(co, {1, 4, 4}, 3).take();
  SpecModel m(cnn);
  NamedTensors named;
  for (auto& p : m->named_parameters()) named.emplace_back(p.key(), p.value());
  FlatParams flat = FlatParams::Make(named).take();
  EXPECT_EQ(DirectMlp::Make(cnn, flat, true), nullptr);
}

}  // namespace
}  // namespace driftrun
