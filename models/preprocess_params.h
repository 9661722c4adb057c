// The fitted preprocessing parameters (impute, scale, clip per column) and their
// HDF5 layout, without LibTorch: checkpoints, `driftrun preprocess` and the ONNX
// exporter (which must not load LibTorch) share them. Fitting and applying them
// on tensors is trainers/preprocess.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/kernel_math.h"

namespace driftrun {

struct Preprocessor {
  std::vector<kmath::ColumnTransform> params;
  bool bf16 = false;
  std::vector<std::string> notes;  // what was done ("column f3 is constant: ...")
  // The training file's column names (its feature_names), in the order of
  // params; empty when that file named none (then columns go by position).
  std::vector<std::string> names;

  int64_t dim() const { return static_cast<int64_t>(params.size()); }
};

// The parameters as five columns: fill, shift, scale, lo, hi (one value per column).
std::array<std::vector<float>, 5> ParamColumns(const Preprocessor& pre);

class H5Writer;
class H5Reader;
// The parameters as HDF5 arrays <group>/{fill,shift,scale,lo,hi} [D] and the
// attribute bf16; used by checkpoints and `driftrun preprocess`.
Status WritePreprocessor(H5Writer& w, const std::string& group, const Preprocessor& pre);
Result<Preprocessor> ReadPreprocessor(const H5Reader& r, const std::string& group, int64_t dim);

}  // namespace driftrun
