// The optimizer update as one pass over flat float32 buffers (parameters,
// gradients, state), no LibTorch. Each element gets exactly the arithmetic of
// torch.optim's single-tensor update run as ATen operations (the same roundings,
// the same fused multiply-adds where ATen's CPU kernels use them), so a step over
// the flat buffers equals the per-tensor step bit for bit; tests/trainers/
// optimizer_test.cpp holds the two side by side. Scalars are the float32 values
// ATen would use (a double hyper-parameter rounded once).
//
// Pure functions of their arguments; the caller splits a buffer across threads.
#pragma once

#include <cstdint>

namespace driftrun {

struct AdamCoefs {
  bool adamw = true;
  float decay = 1;         // adamw: parameters are multiplied by it first (1 - lr * weight_decay)
  float weight_decay = 0;  // adam: added to the gradient as weight_decay * p (0: off)
  float one_minus_beta1 = 0.1f;
  float beta2 = 0.999f;
  float one_minus_beta2 = 0.001f;
  float bias2_sqrt = 1;  // sqrt(1 - beta2^t)
  float eps = 1e-8f;
  float step = 0;  // -lr / (1 - beta1^t)
};

// Adam in two passes. The square root of v is the correctly rounded one
// (std::sqrt), not ATen's: on x86 builds torch.optim's `v.sqrt()` is MKL's
// vsSqrt, split over the intra-op threads, which is off by one in the last
// bit for some elements and, in some processes, much further off (a relative
// 3e-4) in a worker thread's part: the same run gave other weights in 4 of 50
// processes. Correctly rounded, the step is the same in every process.
// Pass 1: p decayed (adamw), m and v updated in place from g (read only).
void AdamMoments(const AdamCoefs& c, float* p, const float* g, float* m, float* v, int64_t n);
// Pass 2: p += step * m / (sqrt(v) / bias2_sqrt + eps).
void AdamApply(const AdamCoefs& c, float* p, const float* m, const float* v, int64_t n);

struct SgdCoefs {
  float weight_decay = 0;  // 0: off
  float momentum = 0;      // 0: no momentum buffer (buf may be null)
  bool first = false;      // the momentum buffer starts as the gradient
  float neg_lr = 0;
};

// p and buf updated in place from g (read only).
void FusedSgd(const SgdCoefs& c, float* p, const float* g, float* buf, int64_t n);

}  // namespace driftrun
