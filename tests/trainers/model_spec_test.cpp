#include "models/model_spec.h"

#include <gtest/gtest.h>

#include "trainers/spec_model.h"

namespace driftrun {
namespace {

// The LibTorch module's parameters are exactly the description's, by name and shape.
void ExpectModuleMatchesSpec(const ModelSpec& spec) {
  SpecModel m(spec);
  auto params = spec.Params();
  auto named = m->named_parameters();
  ASSERT_EQ(named.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(named[i].key(), params[i].first);
    EXPECT_EQ(std::vector<int64_t>(named[i].value().sizes().begin(), named[i].value().sizes().end()),
              params[i].second)
        << params[i].first;
  }
}

TEST(ModelSpec, MlpKeepsLayerNamesAndShapes) {
  ModelOptions o;
  o.hidden = {8, 4};
  o.dropout = 0.1;
  auto s = BuildModelSpec(o, {5}, 2).take();
  auto p = s.Params();
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[0].first, "layers.0.weight");
  EXPECT_EQ(p[0].second, (std::vector<int64_t>{8, 5}));
  EXPECT_EQ(p[5].first, "layers.2.bias");
  ExpectModuleMatchesSpec(s);
  SpecModel m(s);
  EXPECT_EQ(m->forward(torch::randn({3, 5})).sizes(), (std::vector<int64_t>{3, 2}));
}

TEST(ModelSpec, CnnHalvesTheImagePerBlockAndRoundTripsJson) {
  ModelOptions o;
  o.kind = "cnn";
  o.channels = {4, 6};
  o.hidden = {10};
  auto s = BuildModelSpec(o, {1, 8, 8}, 10).take();
  ExpectModuleMatchesSpec(s);
  SpecModel m(s);
  EXPECT_EQ(m->forward(torch::randn({2, 64})).sizes(), (std::vector<int64_t>{2, 10}));
  // The inference path (in-place activations, pooling by elementwise maxima)
  // gives exactly the training path's values.
  torch::Tensor x = torch::randn({5, 64});
  torch::Tensor train_out = m->forward(x);
  torch::Tensor x_copy = x.clone();
  m->eval();
  torch::Tensor eval_out;
  {
    torch::NoGradGuard ng;
    eval_out = m->forward(x);
  }
  EXPECT_TRUE(torch::equal(train_out.detach(), eval_out));
  EXPECT_TRUE(torch::equal(x, x_copy)) << "the caller's input is never modified in place";
  auto back = ModelSpec::FromJson(s.ToJson()).take();
  EXPECT_EQ(back.ToJson(), s.ToJson());
  EXPECT_EQ(back.Params(), s.Params());
  o.channels = {4, 4, 4, 4};
  EXPECT_EQ(BuildModelSpec(o, {1, 8, 8}, 10).status().code(), Code::kUsage) << "8x8 allows three 2x2 pools";
}

TEST(ModelSpec, TextBagIgnoresPaddingIds) {
  ModelOptions o;
  o.kind = "text";
  o.buckets = 100;
  o.embedding_dim = 4;
  auto s = BuildModelSpec(o, {6}, 3).take();
  EXPECT_EQ(s.pad_id, 100);
  ExpectModuleMatchesSpec(s);
  SpecModel m(s);
  m->eval();
  torch::Tensor a = torch::tensor({{5, 7, 100, 100, 100, 100}}, torch::kLong);
  torch::Tensor b = torch::tensor({{7, 5, 100, 100, 100, 100}}, torch::kLong);
  torch::Tensor c = torch::tensor({{5, 7, 5, 7, 100, 100}}, torch::kLong);
  EXPECT_TRUE(torch::allclose(m->forward(a), m->forward(b)));
  EXPECT_TRUE(torch::allclose(m->forward(a), m->forward(c))) << "a mean over the non-padding ids";
  EXPECT_FALSE(ModelSpec::FromJson("{").ok());
  o.kind = "rnn";
  EXPECT_FALSE(BuildModelSpec(o, {6}, 3).ok());
}

}  // namespace
}  // namespace driftrun
