// Categorical columns to indices: int64 values [rows, columns] → int64 indices.
//   HashCategories: bucket = mix64(value, column) % buckets.
//   VocabIndices: per column, the position of the value in that column's sorted
//     vocabulary; a value not in it maps to the column's unseen bucket (= its
//     vocabulary size).
// Vocabularies: `vocab` int64 [columns, V] sorted per row, `sizes` int64 [columns]
// with the used length of each row (<= V). Thread-safe. Bad shapes: Status::Data.
#pragma once

#include <ATen/core/Tensor.h>

#include "common/status.h"

namespace driftrun {

Result<at::Tensor> HashCategories(const at::Tensor& values, int64_t buckets);
Result<at::Tensor> VocabIndices(const at::Tensor& values, const at::Tensor& vocab, const at::Tensor& sizes);

// CPU references on raw memory.
void HashCategoriesCpu(const int64_t* v, int64_t rows, int64_t cols, int64_t buckets, int64_t* out);
void VocabIndicesCpu(const int64_t* v, int64_t rows, int64_t cols, const int64_t* vocab, int64_t width,
                     const int64_t* sizes, int64_t* out);
Result<at::Tensor> HashCategoriesCuda(const at::Tensor& values, int64_t buckets);
Result<at::Tensor> VocabIndicesCuda(const at::Tensor& values, const at::Tensor& vocab,
                                    const at::Tensor& sizes);

}  // namespace driftrun
