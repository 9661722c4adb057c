// Loss and validation metrics of a training session.
#include <cmath>

#include "comm/collectives.h"
#include "trainers/train_session.h"

namespace driftrun {

torch::Tensor AsInput(const torch::Tensor& x) {
  return x.is_floating_point() ? x.to(torch::kFloat) : x;
}

torch::Tensor Loss(const Session& s, const torch::Tensor& pred, const torch::Tensor& y,
                   at::Reduction::Reduction red) {
  if (s.o.train.classification) return torch::cross_entropy_loss(pred, y, {}, red);
  return torch::mse_loss(pred, y, red);
}

Result<Eval> Evaluate(Session& s) {
  Eval e;
  if (s.val_count == 0) return e;
  torch::NoGradGuard ng;
  s.model->eval();
  std::vector<double> acc = {0, 0};  // loss sum, metric sum
  if (s.val_x.defined() && s.val_x.size(0) > 0) {
    for (int64_t i = 0; i < s.val_x.size(0); i += 8192) {
      int64_t n = std::min<int64_t>(8192, s.val_x.size(0) - i);
      torch::Tensor x = AsInput(s.val_x.narrow(0, i, n)), y = s.val_y.narrow(0, i, n);
      torch::Tensor pred = s.model->forward(x);
      if (s.o.train.classification) {
        acc[0] += Loss(s, pred, y, at::Reduction::Sum).item<double>();
        acc[1] += pred.argmax(1).eq(y).sum().item<double>();
      } else {
        double se = Loss(s, pred, y, at::Reduction::Sum).item<double>();
        acc[0] += se;
        acc[1] += se;
      }
    }
  }
  s.model->train();
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(*s.world, &acc));
  const double n = static_cast<double>(s.val_count);
  if (s.o.train.classification) {
    e.loss = acc[0] / n;
    e.metric = acc[1] / n;  // accuracy
  } else {
    e.loss = acc[0] / (n * s.meta.label_dim);
    e.metric = std::sqrt(e.loss);  // RMSE
  }
  return e;
}

}  // namespace driftrun
