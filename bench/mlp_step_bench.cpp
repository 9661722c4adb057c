// mlp_step_bench: one MLP training step's forward and backward (no optimizer,
// no communication) through autograd, as driftrun did before, against the
// hand-written backward (trainers/direct_mlp.h), alternating in one run, one
// intra-op thread. Usage: mlp_step_bench [batch=128] [steps=2000] [rounds=3].
// Prints ms per step, the ratio, and whether the gradients were equal.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "trainers/direct_mlp.h"
#include "trainers/spec_model.h"

using namespace driftrun;

namespace {

struct Net {
  SpecModel model{nullptr};
  std::unique_ptr<FlatParams> flat;
};

Net Make(const ModelSpec& spec) {
  torch::manual_seed(0);
  Net n;
  n.model = SpecModel(spec);
  NamedTensors named;
  for (auto& p : n.model->named_parameters()) named.emplace_back(p.key(), p.value());
  n.flat = std::make_unique<FlatParams>(FlatParams::Make(named).value());
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  const int64_t batch = argc > 1 ? std::atoll(argv[1]) : 128;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  if (argc > 4 || batch < 1 || steps < 1 || rounds < 1) {
    std::fprintf(stderr,
                 "usage: mlp_step_bench [batch >= 1, default 128] [steps >= 1, default 2000] "
                 "[rounds >= 1, default 3]\n");
    return 2;
  }
  ModelOptions mo;
  mo.hidden = {256, 256};
  const ModelSpec spec = BuildModelSpec(mo, {32}, 1).value();
  Net a = Make(spec), b = Make(spec);
  auto direct = DirectMlp::Make(spec, *b.flat, false);
  const torch::Tensor x = torch::randn({batch, 32}), y = torch::randn({batch, 1});
  const double denom = static_cast<double>(batch);
  auto autograd_step = [&] {
    a.flat->ZeroGrad();
    torch::Tensor loss_sum = torch::mse_loss(a.model->forward(x), y, at::Reduction::Sum);
    (loss_sum / denom).backward();
    return loss_sum.item<double>();
  };
  auto direct_step = [&] { return direct->Step(x, y, denom, {}).item<double>(); };
  auto time = [&](const auto& step) {
    for (int i = 0; i < steps / 10; ++i) step();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / steps;
  };
  std::printf("MLP 32-256-256-1, batch %lld, 1 thread, forward + backward, ms per step\n",
              static_cast<long long>(batch));
  std::printf("%-6s %10s %10s %7s\n", "round", "autograd", "direct", "ratio");
  for (int r = 0; r < rounds; ++r) {
    const double ta = time(autograd_step), td = time(direct_step);
    std::printf("%-6d %10.4f %10.4f %6.2fx\n", r + 1, ta, td, ta / td);
  }
  autograd_step();
  direct_step();
  std::printf("gradients equal: %s\n", torch::equal(a.flat->grad(), b.flat->grad()) ? "yes" : "NO");
  return 0;
}
