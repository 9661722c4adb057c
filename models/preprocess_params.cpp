#include "models/preprocess_params.h"

#include "dataio/h5_io.h"

namespace driftrun {

namespace {
// Per-column parameters (kmath::ColumnTransform), one array each.
constexpr const char* kArrays[5] = {"fill", "shift", "scale", "lo", "hi"};
}  // namespace

std::array<std::vector<float>, 5> ParamColumns(const Preprocessor& pre) {
  std::array<std::vector<float>, 5> cols;
  for (const auto& p : pre.params) {
    const float v[5] = {p.fill, p.shift, p.scale, p.lo, p.hi};
    for (int k = 0; k < 5; ++k) cols[k].push_back(v[k]);
  }
  return cols;
}

Status WritePreprocessor(H5Writer& w, const std::string& group, const Preprocessor& pre) {
  const auto cols = ParamColumns(pre);
  for (int k = 0; k < 5; ++k) {
    DRIFTRUN_RETURN_IF_ERROR(w.Write(group + "/" + kArrays[k], {pre.dim()}, cols[k].data()));
  }
  if (!pre.names.empty()) DRIFTRUN_RETURN_IF_ERROR(w.AttrStrings(group, "feature_names", pre.names));
  return w.AttrDouble(group, "bf16", pre.bf16 ? 1 : 0);
}

Result<Preprocessor> ReadPreprocessor(const H5Reader& r, const std::string& group, int64_t dim) {
  std::vector<float> cols[5];
  for (int k = 0; k < 5; ++k)
    DRIFTRUN_RETURN_IF_ERROR(r.ReadRange(group + "/" + kArrays[k], 0, dim, &cols[k]));
  Preprocessor pre;
  for (int64_t j = 0; j < dim; ++j)
    pre.params.push_back({cols[0][j], cols[1][j], cols[2][j], cols[3][j], cols[4][j]});
  auto bf16 = r.AttrDouble(group, "bf16");
  pre.bf16 = bf16.ok() && bf16.value() != 0;
  // Written since columns are matched by name; older checkpoints have none.
  auto names = r.AttrStrings(group, "feature_names");
  if (names.ok() && static_cast<int64_t>(names.value().size()) == dim) pre.names = names.value();
  return pre;
}

}  // namespace driftrun
