// Built with -ffp-contract=off: every fused multiply-add below is an explicit
// std::fma where ATen's kernels have one (add with alpha, lerp, addcmul: found
// by comparing each op with numpy float32 formulas), and nothing else is
// contracted. The loops are cloned for AVX-512 and
// AVX2+FMA and picked at load time, so std::fma is one instruction there.
#include "trainers/fused_optim.h"

#include <cmath>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DRIFTRUN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DRIFTRUN_CLONES
#endif

namespace driftrun {

DRIFTRUN_CLONES
void AdamMoments(const AdamCoefs& c, float* p, const float* g, float* m, float* v, int64_t n) {
  const bool small = std::fabs(c.one_minus_beta1) < 0.5f;
  const float lerp_w = small ? c.one_minus_beta1 : c.one_minus_beta1 - 1.0f;
  const bool decay_grad = !c.adamw && c.weight_decay != 0;
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i];
    if (c.adamw) {
      p[i] = p[i] * c.decay;  // p.mul_(1 - lr * weight_decay)
    } else if (decay_grad) {
      gi = std::fma(p[i], c.weight_decay, gi);  // g.add(p, weight_decay)
    }
    const float mi = m[i];
    m[i] = std::fma(lerp_w, gi - mi, small ? mi : gi);            // m.lerp_(g, 1 - beta1)
    v[i] = std::fma(c.one_minus_beta2 * gi, gi, v[i] * c.beta2);  // v.mul_(beta2).addcmul_(g, g, 1 - beta2)
  }
}

DRIFTRUN_CLONES
void AdamApply(const AdamCoefs& c, float* p, const float* m, const float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float denom = std::sqrt(v[i]) / c.bias2_sqrt + c.eps;  // (v.sqrt() / bias2_sqrt).add_(eps)
    p[i] = p[i] + c.step * m[i] / denom;                         // p.addcdiv_(m, denom, step)
  }
}

DRIFTRUN_CLONES
void FusedSgd(const SgdCoefs& c, float* p, const float* g, float* buf, int64_t n) {
  const bool decay = c.weight_decay != 0;
  const bool momentum = c.momentum != 0;
  for (int64_t i = 0; i < n; ++i) {
    const float pi = p[i];
    float gi = g[i];
    if (decay) gi = std::fma(pi, c.weight_decay, gi);  // g.add(p, weight_decay)
    if (momentum) {
      // First step: buf = g.clone(); then buf.mul_(momentum).add_(g).
      gi = c.first ? gi : std::fma(gi, 1.0f, buf[i] * c.momentum);
      buf[i] = gi;
    }
    p[i] = std::fma(gi, c.neg_lr, pi);  // p.add_(g, -lr)
  }
}

}  // namespace driftrun
