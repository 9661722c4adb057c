// Quantiles per column from a fine histogram: FineEdges spreads `bins` equal
// bins between each column's min and max (from merged column statistics); the
// counts of Histograms over those edges merge across ranks by summing; then
// QuantilesFromCounts interpolates within the bin that holds the wanted rank
// (numpy's "linear" definition, rank q * (n - 1)). The error is at most one fine
// bin, (max - min) / bins. Thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "kernels/kernel_math.h"

namespace driftrun {

constexpr int kFineBins = 4096;

// float32 [columns, bins + 1]; a column without values gets edges at 0.
at::Tensor FineEdges(const std::vector<kmath::Moments>& stats, int bins = kFineBins);

// counts: int64 [columns, bins + 3] from Histograms over FineEdges. Returns
// [columns][probs.size()]; NaN for a column without values.
std::vector<std::vector<double>> QuantilesFromCounts(const at::Tensor& counts, const at::Tensor& edges,
                                                     const std::vector<double>& probs);

}  // namespace driftrun
