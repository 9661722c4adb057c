#include "comm/communicator.h"

namespace driftrun {

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kFloat64:
    case DType::kInt64: return 8;
    case DType::kUInt8: return 1;
  }
  return 1;
}

}  // namespace driftrun
