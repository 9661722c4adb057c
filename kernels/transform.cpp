#include "kernels/transform.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "kernels/column_stats.h"

namespace driftrun {

std::vector<kmath::ColumnTransform> MakeTransform(const std::vector<kmath::Moments>& stats,
                                                  const std::vector<double>& median,
                                                  const std::vector<ColumnTransformOptions>& opts,
                                                  const std::vector<std::string>& names,
                                                  std::vector<std::string>* notes) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<kmath::ColumnTransform> p(stats.size());
  for (size_t j = 0; j < stats.size(); ++j) {
    const kmath::Moments& m = stats[j];
    const ColumnTransformOptions& o = opts[j];
    const std::string& name = names[j];
    const bool empty = m.n == 0;
    double fill = 0;
    if (empty) {
      fill = o.impute == "constant" ? o.fill_value : 0.0;
      notes->push_back("column " + name + " has no values: filled with " + std::to_string(fill));
    } else if (o.impute == "mean") {
      fill = m.mean;
    } else if (o.impute == "median") {
      fill = j < median.size() && std::isfinite(median[j]) ? median[j] : m.mean;
    } else if (o.impute == "constant") {
      fill = o.fill_value;
    }
    double shift = 0, scale = 1;
    const double sd = empty ? 0 : std::sqrt(m.m2 / m.n);
    if (!empty && o.scale == "standard") {
      shift = m.mean;
      if (sd > 1e-12 * std::max(1.0, std::fabs(m.mean))) {
        scale = 1.0 / sd;
      } else {
        notes->push_back("column " + name + " is constant: centred, not scaled");
      }
    } else if (!empty && o.scale == "minmax") {
      shift = m.min;
      if (m.max > m.min) {
        scale = 1.0 / (m.max - m.min);
      } else {
        notes->push_back("column " + name + " is constant: shifted to 0, not scaled");
      }
    }
    float lo = -inf, hi = inf;
    if (o.clip_sigma > 0 && o.scale == "standard") {
      lo = static_cast<float>(-o.clip_sigma);
      hi = static_cast<float>(o.clip_sigma);
    }
    p[j] = {static_cast<float>(fill), static_cast<float>(shift), static_cast<float>(scale), lo, hi};
    if (m.nonfinite > 0) {
      notes->push_back("column " + name + ": " + std::to_string(static_cast<int64_t>(m.nonfinite)) +
                       " +-Inf values treated as missing");
    }
  }
  return p;
}

std::vector<std::string> OutlierWarnings(const std::vector<kmath::Moments>& stats,
                                         const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (size_t j = 0; j < stats.size() && j < names.size(); ++j) {
    const kmath::Moments& m = stats[j];
    if (m.n < 16) continue;
    const double sd = std::sqrt(m.m2 / m.n);
    if (!(sd > 0) || !std::isfinite(sd)) continue;
    const double far = std::max(m.max - m.mean, m.mean - m.min);
    const double z = far / sd;
    if (z <= std::max(10.0, 0.5 * std::sqrt(m.n))) continue;
    const double value = m.max - m.mean >= m.mean - m.min ? m.max : m.min;
    char buf[256];
    std::snprintf(
        buf, sizeof(buf),
        ": a value of %.6g lies %.0f standard deviations from the mean (%.6g); a few such values set "
        "the column's scale and squeeze the others near 0. Check the data for bad values, or drop "
        "those rows",
        value, z, m.mean);
    out.push_back("column " + names[j] + buf);
  }
  return out;
}

void FusedTransformCpu(const float* x, int64_t rows, int64_t cols, const kmath::ColumnTransform* params,
                       float* out, int64_t* imputed, int64_t* clipped) {
  // Parameters as separate arrays so the loop over columns vectorises.
  std::vector<float> fill(cols), shift(cols), scale(cols), lo(cols), hi(cols);
  for (int64_t j = 0; j < cols; ++j) {
    fill[j] = params[j].fill;
    shift[j] = params[j].shift;
    scale[j] = params[j].scale;
    lo[j] = params[j].lo;
    hi[j] = params[j].hi;
  }
  const int64_t grain = 2048;
  const int64_t chunks = (rows + grain - 1) / grain;
  std::vector<std::vector<int64_t>> partial(static_cast<size_t>(chunks));
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    std::vector<int32_t> imp(static_cast<size_t>(cols)), clp(static_cast<size_t>(cols));
    const float *f = fill.data(), *sh = shift.data(), *sc = scale.data(), *l = lo.data(), *h = hi.data();
    for (int64_t c = c0; c < c1; ++c) {
      std::fill(imp.begin(), imp.end(), 0);
      std::fill(clp.begin(), clp.end(), 0);
      int32_t* ip = imp.data();
      int32_t* cp = clp.data();
      const int64_t r1 = std::min(rows, (c + 1) * grain);
      for (int64_t i = c * grain; i < r1; ++i) {
        const float* in = x + i * cols;
        float* o = out + i * cols;
#pragma GCC ivdep
        for (int64_t j = 0; j < cols; ++j) {
          bool was_imputed, was_clipped;
          o[j] = kmath::TransformScalar(in[j], f[j], sh[j], sc[j], l[j], h[j], &was_imputed, &was_clipped);
          ip[j] += was_imputed;
          cp[j] += was_clipped;
        }
      }
      auto& p = partial[c];
      p.assign(imp.begin(), imp.end());
      p.insert(p.end(), clp.begin(), clp.end());
    }
  });
  for (const auto& p : partial) {
    for (int64_t j = 0; j < cols; ++j) {
      imputed[j] += p[j];
      clipped[j] += p[cols + j];
    }
  }
}

Result<TransformReport> FusedTransform(const at::Tensor& x, const std::vector<kmath::ColumnTransform>& params,
                                       bool bf16, at::Tensor* out) {
  DRIFTRUN_RETURN_IF_ERROR(CheckFeatures(x, "the fused transform"));
  if (static_cast<int64_t>(params.size()) != x.size(1)) {
    return Status::Data("the fused transform has " + std::to_string(params.size()) +
                        " column parameters for data with " + std::to_string(x.size(1)) + " columns");
  }
  if (x.is_cuda()) return FusedTransformCuda(x, params, bf16, out);
  at::Tensor c = x.contiguous();
  // Reuse *out when it already is a float32 tensor of the right shape (no
  // page-faulting a fresh allocation on every call).
  const bool reuse = !bf16 && out->defined() && out->is_cpu() && out->scalar_type() == at::kFloat &&
                     out->sizes() == c.sizes() && out->is_contiguous();
  at::Tensor f = reuse ? *out : at::empty_like(c);
  TransformReport r;
  r.imputed.assign(params.size(), 0);
  r.clipped.assign(params.size(), 0);
  FusedTransformCpu(c.data_ptr<float>(), c.size(0), c.size(1), params.data(), f.data_ptr<float>(),
                    r.imputed.data(), r.clipped.data());
  *out = bf16 ? f.to(at::kBFloat16) : f;
  return r;
}

}  // namespace driftrun
