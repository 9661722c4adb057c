// OptimizerOptions, kept apart from optimizer.h so torch-free code can hold them.
#pragma once

#include <string>

namespace driftrun {

struct OptimizerOptions {
  std::string kind = "adamw";  // sgd | adam | adamw
  double weight_decay = 0.0;
  double momentum = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

}  // namespace driftrun
