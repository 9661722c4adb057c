// Text to hashed n-gram ids for the text model (kernels/text_math.h has the
// exact rule): strings → int64 [rows, max_ids], padded with `buckets`. The CPU
// version runs rows in parallel; the CUDA version copies the bytes to the device
// once and runs one thread per row on the current stream. Both give identical ids.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

struct NgramOptions {
  int64_t buckets = 262144;
  int word_ngrams = 2;  // 1: words only; 2: words and word bigrams
  int char_ngrams = 3;  // 0: none
  int64_t max_ids = 256;
};

// On `device` (CPU or CUDA). Bad options: Status::Usage.
Result<at::Tensor> HashText(const std::vector<std::string>& texts, const NgramOptions& o, at::Device device);

// CPU reference on raw memory: bytes of all rows back to back, offsets [rows + 1].
void HashTextCpu(const char* bytes, const int64_t* offsets, int64_t rows, const NgramOptions& o,
                 int64_t* out);
Result<at::Tensor> HashTextCuda(const std::string& bytes, const std::vector<int64_t>& offsets,
                                const NgramOptions& o, at::Device device);

}  // namespace driftrun
