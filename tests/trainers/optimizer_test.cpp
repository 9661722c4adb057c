// The fused optimizer over flat buffers against torch.optim's single-tensor
// rules run as ATen operations on each parameter (the optimizer before the flat
// buffers, kept here as the reference): equal bit for bit, step after step.
// tests/integration/test_torch_crosscheck.py checks the same against
// torch.optim itself in Python.
#include "trainers/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>

#include "trainers/flat_params.h"

namespace driftrun {
namespace {

// torch.optim's _single_tensor_sgd / _single_tensor_adam(w), per parameter.
class ReferenceOptimizer {
 public:
  ReferenceOptimizer(OptimizerOptions o, NamedTensors params)
      : o_(std::move(o)), params_(std::move(params)) {}
  void Step(double lr) {
    torch::NoGradGuard no_grad;
    ++steps_;
    const double t = static_cast<double>(steps_);
    for (auto& [name, p] : params_) {
      torch::Tensor g = p.grad();
      if (o_.kind == "sgd") {
        if (o_.weight_decay != 0) g = g.add(p, o_.weight_decay);
        if (o_.momentum != 0) {
          auto it = state_.find(name + "/momentum");
          if (it == state_.end()) {
            it = state_.emplace(name + "/momentum", g.clone()).first;
          } else {
            it->second.mul_(o_.momentum).add_(g);
          }
          g = it->second;
        }
        p.add_(g, -lr);
        continue;
      }
      if (o_.kind == "adamw") {
        p.mul_(1 - lr * o_.weight_decay);
      } else if (o_.weight_decay != 0) {
        g = g.add(p, o_.weight_decay);
      }
      auto& m = state_[name + "/exp_avg"];
      auto& v = state_[name + "/exp_avg_sq"];
      if (!m.defined()) {
        m = torch::zeros_like(p);
        v = torch::zeros_like(p);
      }
      m.lerp_(g, 1 - o_.beta1);
      v.mul_(o_.beta2).addcmul_(g, g.conj(), 1 - o_.beta2);
      const double bias1 = 1 - std::pow(o_.beta1, t);
      const double bias2_sqrt = std::sqrt(1 - std::pow(o_.beta2, t));
      // The correctly rounded square root (a float's, through double), where
      // torch.optim's v.sqrt() is MKL's vsSqrt on x86 (fused_optim.h).
      torch::Tensor denom = (v.to(torch::kDouble).sqrt().to(torch::kFloat) / bias2_sqrt).add_(o_.eps);
      p.addcdiv_(m, denom, -lr / bias1);
    }
  }
  std::map<std::string, torch::Tensor> state_;

 private:
  OptimizerOptions o_;
  NamedTensors params_;
  int64_t steps_ = 0;
};

// Shapes with odd sizes (vector loop tails) and one large enough to be split
// across threads.
NamedTensors MakeParams(uint64_t seed) {
  torch::manual_seed(seed);
  NamedTensors out;
  for (auto [name, shape] :
       std::vector<std::pair<const char*, std::vector<int64_t>>>{{"a.weight", {37, 13}},
                                                                 {"a.bias", {37}},
                                                                 {"b.weight", {5, 37}},
                                                                 {"b.bias", {5}},
                                                                 {"big.weight", {300, 401}},
                                                                 {"one", {1}}}) {
    out.emplace_back(name, torch::randn(shape).requires_grad_());
  }
  return out;
}

NamedTensors Clone(const NamedTensors& in) {
  NamedTensors out;
  for (const auto& [n, t] : in) out.emplace_back(n, t.detach().clone().requires_grad_());
  return out;
}

// Gradients of a few scales, zeros and negative zeros included.
void SetGrads(const NamedTensors& ref, const FlatParams& flat, int step) {
  torch::manual_seed(1000 + step);
  for (size_t i = 0; i < ref.size(); ++i) {
    torch::Tensor g = torch::randn(ref[i].second.sizes()) * std::pow(10.0, (step % 7) - 3);
    g.view({-1}).narrow(0, 0, 1).fill_(step % 2 ? 0.0 : -0.0);
    ref[i].second.mutable_grad() = g.clone();
    flat.View(flat.grad(), i).copy_(g);
  }
}

struct Case {
  const char* name;
  OptimizerOptions o;
  double lr;
};

std::vector<Case> Cases() {
  OptimizerOptions sgd;
  sgd.kind = "sgd";
  OptimizerOptions sgd_m = sgd;
  sgd_m.momentum = 0.9;
  sgd_m.weight_decay = 1e-3;
  OptimizerOptions adam;
  adam.kind = "adam";
  OptimizerOptions adam_wd = adam;
  adam_wd.weight_decay = 0.01;
  OptimizerOptions adamw;
  adamw.weight_decay = 0.05;
  OptimizerOptions adamw_low_beta = adamw;  // lerp's other branch (weight >= 0.5)
  adamw_low_beta.beta1 = 0.3;
  return {{"sgd", sgd, 0.1},      {"sgd_momentum_decay", sgd_m, 0.05},
          {"adam", adam, 1e-3},   {"adam_decay", adam_wd, 3e-3},
          {"adamw", adamw, 1e-2}, {"adamw_beta1_0.3", adamw_low_beta, 1e-2}};
}

class OptimizerEquality : public ::testing::TestWithParam<int> {};

TEST_P(OptimizerEquality, FusedFlatStepEqualsPerTensorAtenStepBitForBit) {
  for (int threads : {1, 2}) {
    torch::set_num_threads(threads);
    const Case c = Cases()[GetParam()];
    NamedTensors ref_params = MakeParams(7);
    NamedTensors params = Clone(ref_params);
    FlatParams flat = FlatParams::Make(params).value();
    Optimizer opt(c.o, &flat);
    ReferenceOptimizer ref(c.o, ref_params);
    for (int step = 0; step < 25; ++step) {
      SetGrads(ref_params, flat, step);
      ref.Step(c.lr);
      opt.Step(c.lr);
      for (size_t i = 0; i < params.size(); ++i) {
        ASSERT_TRUE(torch::equal(params[i].second, ref_params[i].second))
            << c.name << ", " << threads << " threads: '" << params[i].first << "' differs after step "
            << step + 1 << " (max abs diff "
            << (params[i].second - ref_params[i].second).abs().max().item<double>() << ")";
      }
    }
    // The gaps between parameters (alignment) stayed zero.
    torch::Tensor gaps = flat.data().clone();
    for (size_t i = 0; i < params.size(); ++i) flat.View(gaps, i).zero_();
    EXPECT_EQ(gaps.count_nonzero().item<int64_t>(), 0) << c.name;
    // The state, keyed by name, is the reference's.
    auto state = opt.State();
    ASSERT_EQ(state.size(), ref.state_.size()) << c.name;
    for (const auto& [key, t] : state) {
      ASSERT_TRUE(ref.state_.count(key)) << key;
      EXPECT_TRUE(torch::equal(t, ref.state_.at(key))) << c.name << ": state " << key;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, OptimizerEquality, ::testing::Range(0, 6), [](const auto& info) {
  std::string n = Cases()[info.param].name;
  for (char& ch : n)
    if (ch == '.') ch = '_';
  return n;
});

// The shared-memory step (shared_step.h) as three ranks run it: each holds its
// own parameters and an optimizer whose state lives in one shared copy, runs
// StepRange over its range (ranges that split parameters, odd lengths) with
// the summed gradients, and copies the other ranges' new values. Together they
// must equal one optimizer stepping the whole buffers, state included.
TEST_P(OptimizerEquality, RanksSteppingTheirRangesOfSharedStateEqualOneWholeStep) {
  const Case c = Cases()[GetParam()];
  NamedTensors pw = MakeParams(9);
  FlatParams fw = FlatParams::Make(pw).value();
  Optimizer whole(c.o, &fw);
  constexpr int kRanks = 3;
  std::vector<NamedTensors> pr;
  std::vector<std::unique_ptr<FlatParams>> fr;
  std::vector<std::unique_ptr<Optimizer>> opt;
  std::map<std::string, torch::Tensor> shared;
  for (int r = 0; r < kRanks; ++r) {
    pr.push_back(Clone(pw));
    fr.push_back(std::make_unique<FlatParams>(FlatParams::Make(pr.back()).value()));
    opt.push_back(std::make_unique<Optimizer>(c.o, fr.back().get()));
    if (r == 0) {
      for (const char* slot : opt[0]->Slots()) shared[slot] = torch::full({fw.numel()}, 7.0f);
    }
    opt.back()->MoveStateTo(shared, /*copy=*/r == 0);
  }
  const int64_t n = fw.numel();
  const std::vector<int64_t> cut = {0, n / 3 + 5, n / 3 + 22, n};
  for (int step = 0; step < 12; ++step) {
    SetGrads(pw, fw, step);
    torch::Tensor summed = fw.grad().clone();  // what each rank's sum holds
    whole.Step(c.lr);
    for (int r = 0; r < kRanks; ++r)
      opt[r]->StepRange(c.lr, cut[r], cut[r + 1], summed.data_ptr<float>() + cut[r]);
    for (int r = 0; r < kRanks; ++r) {
      for (int q = 0; q < kRanks; ++q) {
        if (q != r)
          fr[r]
              ->data()
              .narrow(0, cut[q], cut[q + 1] - cut[q])
              .copy_(fr[q]->data().narrow(0, cut[q], cut[q + 1] - cut[q]));
      }
      ASSERT_TRUE(torch::equal(fr[r]->data(), fw.data()))
          << c.name << ": rank " << r << "'s parameters differ after step " << step + 1;
    }
  }
  auto a = whole.State(), b = opt[0]->State();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST(Optimizer, StateLoadedIntoAFreshOptimizerContinuesExactly) {
  torch::set_num_threads(1);
  OptimizerOptions o;
  o.weight_decay = 0.05;
  NamedTensors a = MakeParams(3), b = Clone(a);
  FlatParams fa = FlatParams::Make(a).value();
  Optimizer oa(o, &fa);
  for (int step = 0; step < 5; ++step) {
    SetGrads(Clone(a), fa, step);
    oa.Step(1e-2);
  }
  // b: the checkpoint's weights and state, in a new optimizer.
  FlatParams fb = FlatParams::Make(b).value();
  fb.data().copy_(fa.data());
  std::map<std::string, torch::Tensor> saved;
  for (const auto& [k, t] : oa.State()) saved[k] = t.clone();
  Optimizer ob(o, &fb);
  ASSERT_TRUE(ob.LoadState(saved, oa.steps()).ok());
  for (int step = 5; step < 10; ++step) {
    SetGrads(Clone(a), fa, step);
    fb.grad().copy_(fa.grad());
    oa.Step(1e-2);
    ob.Step(1e-2);
  }
  EXPECT_TRUE(torch::equal(fa.data(), fb.data()));
  // A checkpoint written after steps without its state is refused.
  saved.erase("a.bias/exp_avg");
  Status st = ob.LoadState(saved, 5);
  EXPECT_EQ(st.code(), Code::kData);
  EXPECT_NE(st.message().find("a.bias/exp_avg"), std::string::npos) << st.message();
}

TEST(FlatParams, ParametersBecomeViewsOfOneBufferInBucketOrderWithTheirValues) {
  NamedTensors p = MakeParams(5);
  std::vector<torch::Tensor> before;
  for (const auto& [n, t] : p) before.push_back(t.detach().clone());
  FlatParams flat = FlatParams::Make(p).value();
  int64_t total = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    total += (p[i].second.numel() + FlatParams::kAlign - 1) / FlatParams::kAlign * FlatParams::kAlign;
    EXPECT_EQ(flat.offset(i) % FlatParams::kAlign, 0) << "64-byte aligned: " << p[i].first;
    EXPECT_TRUE(torch::equal(p[i].second, before[i])) << p[i].first;
    EXPECT_TRUE(p[i].second.is_alias_of(flat.data())) << p[i].first;
    EXPECT_TRUE(p[i].second.grad().is_alias_of(flat.grad())) << p[i].first;
  }
  EXPECT_EQ(flat.numel(), total);
  // Reverse registration order: the last parameter starts the buffer.
  EXPECT_EQ(flat.offset(p.size() - 1), 0);
  EXPECT_EQ(flat.offset(0), total - (p[0].second.numel() + 15) / 16 * 16);
  // A gradient replaced by someone else is pointed back at the buffer.
  p[1].second.mutable_grad() = torch::ones({37});
  flat.ZeroGrad();
  EXPECT_TRUE(p[1].second.grad().is_alias_of(flat.grad()));
  EXPECT_EQ(flat.grad().abs().sum().item<double>(), 0.0);
  // Backward accumulates into the buffer in place.
  (p[1].second * 2).sum().backward();
  EXPECT_EQ(flat.View(flat.grad(), 1).sum().item<double>(), 74.0);
}

}  // namespace
}  // namespace driftrun
