#include "kernels/categorical.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "kernels/kernel_math.h"

namespace driftrun {
namespace {

Status CheckValues(const at::Tensor& v) {
  if (v.dim() != 2 || v.scalar_type() != at::kLong) {
    return Status::Data("categorical ops expect int64 values [rows, columns]");
  }
  return Status::Ok();
}

}  // namespace

void HashCategoriesCpu(const int64_t* v, int64_t rows, int64_t cols, int64_t buckets, int64_t* out) {
  at::parallel_for(0, rows, 4096, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        out[i * cols + j] = kmath::HashBucket(v[i * cols + j], static_cast<int>(j), buckets);
      }
    }
  });
}

void VocabIndicesCpu(const int64_t* v, int64_t rows, int64_t cols, const int64_t* vocab, int64_t width,
                     const int64_t* sizes, int64_t* out) {
  at::parallel_for(0, rows, 4096, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        out[i * cols + j] = kmath::VocabIndex(v[i * cols + j], vocab + j * width, sizes[j]);
      }
    }
  });
}

Result<at::Tensor> HashCategories(const at::Tensor& values, int64_t buckets) {
  DRIFTRUN_RETURN_IF_ERROR(CheckValues(values));
  if (buckets < 1) return Status::Data("categorical hashing needs at least one bucket");
  if (values.is_cuda()) return HashCategoriesCuda(values, buckets);
  at::Tensor v = values.contiguous();
  at::Tensor out = at::empty_like(v);
  HashCategoriesCpu(v.data_ptr<int64_t>(), v.size(0), v.size(1), buckets, out.data_ptr<int64_t>());
  return out;
}

Result<at::Tensor> VocabIndices(const at::Tensor& values, const at::Tensor& vocab, const at::Tensor& sizes) {
  DRIFTRUN_RETURN_IF_ERROR(CheckValues(values));
  if (vocab.dim() != 2 || vocab.scalar_type() != at::kLong || vocab.size(0) != values.size(1) ||
      sizes.dim() != 1 || sizes.scalar_type() != at::kLong || sizes.size(0) != values.size(1)) {
    return Status::Data("vocabularies must be int64 [columns, V] with int64 sizes [columns]");
  }
  at::Tensor s = sizes.cpu();
  for (int64_t j = 0; j < s.size(0); ++j) {
    const int64_t n = s.data_ptr<int64_t>()[j];
    if (n < 0 || n > vocab.size(1)) return Status::Data("vocabulary size out of range");
  }
  if (values.is_cuda()) return VocabIndicesCuda(values, vocab.to(values.device()), sizes.to(values.device()));
  at::Tensor v = values.contiguous(), voc = vocab.contiguous();
  at::Tensor out = at::empty_like(v);
  VocabIndicesCpu(v.data_ptr<int64_t>(), v.size(0), v.size(1), voc.data_ptr<int64_t>(), voc.size(1),
                  s.data_ptr<int64_t>(), out.data_ptr<int64_t>());
  return out;
}

}  // namespace driftrun
