// Builds without CUDA: the CUDA entry points fail loudly instead of missing.
#include "kernels/categorical.h"
#include "kernels/column_stats.h"
#include "kernels/histogram.h"
#include "kernels/text_hash.h"
#include "kernels/transform.h"

namespace driftrun {
namespace {
Status NoCuda(const char* op) {
  return Status::Infra(std::string(op) + ": this driftrun was built without CUDA; use CPU tensors");
}
}  // namespace

Result<std::vector<kmath::Moments>> ColumnStatsCuda(const at::Tensor&) {
  return NoCuda("column statistics");
}
Result<at::Tensor> HistogramsCuda(const at::Tensor&, const at::Tensor&) {
  return NoCuda("histograms");
}
Result<TransformReport> FusedTransformCuda(const at::Tensor&, const std::vector<kmath::ColumnTransform>&,
                                           bool, at::Tensor*) {
  return NoCuda("fused transform");
}
Result<at::Tensor> HashCategoriesCuda(const at::Tensor&, int64_t) {
  return NoCuda("categorical hashing");
}
Result<at::Tensor> VocabIndicesCuda(const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  return NoCuda("vocabulary lookup");
}
Result<at::Tensor> HashTextCuda(const std::string&, const std::vector<int64_t>&, const NgramOptions&,
                                at::Device) {
  return NoCuda("text hashing");
}

}  // namespace driftrun
