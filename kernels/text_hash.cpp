#include "kernels/text_hash.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "kernels/text_math.h"

namespace driftrun {

void HashTextCpu(const char* bytes, const int64_t* offsets, int64_t rows, const NgramOptions& o,
                 int64_t* out) {
  at::parallel_for(0, rows, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      kmath::HashTextRow(bytes + offsets[i], offsets[i + 1] - offsets[i], o.buckets, o.word_ngrams,
                         o.char_ngrams, o.max_ids, out + i * o.max_ids);
    }
  });
}

Result<at::Tensor> HashText(const std::vector<std::string>& texts, const NgramOptions& o, at::Device device) {
  if (o.buckets < 1 || o.max_ids < 1 || o.word_ngrams < 1 || o.word_ngrams > 2 || o.char_ngrams < 0) {
    return Status::Usage(
        "text hashing needs buckets >= 1, max_ids >= 1, word_ngrams 1 or 2, char_ngrams >= 0");
  }
  std::string bytes;
  std::vector<int64_t> offsets = {0};
  for (const auto& t : texts) {
    bytes += t;
    offsets.push_back(static_cast<int64_t>(bytes.size()));
  }
  if (device.is_cuda()) return HashTextCuda(bytes, offsets, o, device);
  const int64_t rows = static_cast<int64_t>(texts.size());
  at::Tensor out = at::empty({rows, o.max_ids}, at::kLong);
  HashTextCpu(bytes.data(), offsets.data(), rows, o, out.data_ptr<int64_t>());
  return out;
}

}  // namespace driftrun
