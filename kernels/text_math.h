// Per-row text tokenising and n-gram hashing shared by the CPU and CUDA ops
// (kernels/text_hash.h). A word is a maximal run of ASCII letters, digits or
// bytes >= 0x80 (UTF-8 sequences stay whole), lower-cased (ASCII). For each word
// in order the row gets: the word's id, then (word_ngrams >= 2) the id of the
// bigram with the previous word, then (char_ngrams > 0) the ids of the
// char_ngrams-long windows over "<word>". An id is
//   splitmix64(FNV-1a-64(tag byte, n-gram bytes)) % buckets
// with tag 'w' (word), 'b' (bigram: word1 ' ' word2), 'c' (char window). The row
// stops at max_ids ids; the rest is padded with `buckets` (the padding id).
#pragma once

#include <cstdint>

#include "kernels/kernel_math.h"

namespace driftrun {
namespace kmath {

constexpr uint64_t kFnvBasis = 14695981039346656037ULL;

DRIFTRUN_HD bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}
DRIFTRUN_HD unsigned char LowerAscii(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}
DRIFTRUN_HD uint64_t FnvByte(uint64_t h, unsigned char c) {
  return (h ^ c) * 1099511628211ULL;
}
DRIFTRUN_HD uint64_t FnvWord(uint64_t h, const char* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) h = FnvByte(h, LowerAscii(static_cast<unsigned char>(s[i])));
  return h;
}

// Writes the row's ids into out[0, max_ids); returns how many are not padding.
DRIFTRUN_HD int64_t HashTextRow(const char* s, int64_t len, int64_t buckets, int word_ngrams, int char_ngrams,
                                int64_t max_ids, int64_t* out) {
  const uint64_t nb = static_cast<uint64_t>(buckets);
  int64_t k = 0, prev_b = -1, prev_n = 0, i = 0;
  while (i < len && k < max_ids) {
    while (i < len && !IsWordByte(static_cast<unsigned char>(s[i]))) ++i;
    if (i >= len) break;
    const int64_t b = i;
    while (i < len && IsWordByte(static_cast<unsigned char>(s[i]))) ++i;
    const int64_t n = i - b;
    out[k++] = static_cast<int64_t>(Mix64(FnvWord(FnvByte(kFnvBasis, 'w'), s + b, n)) % nb);
    if (word_ngrams >= 2 && prev_b >= 0 && k < max_ids) {
      uint64_t g = FnvByte(FnvWord(FnvByte(kFnvBasis, 'b'), s + prev_b, prev_n), ' ');
      out[k++] = static_cast<int64_t>(Mix64(FnvWord(g, s + b, n)) % nb);
    }
    for (int64_t w = 0; char_ngrams > 0 && w + char_ngrams <= n + 2 && k < max_ids; ++w) {
      uint64_t c = FnvByte(kFnvBasis, 'c');
      for (int64_t j = w; j < w + char_ngrams; ++j) {
        const unsigned char ch =
            j == 0 ? '<' : (j == n + 1 ? '>' : LowerAscii(static_cast<unsigned char>(s[b + j - 1])));
        c = FnvByte(c, ch);
      }
      out[k++] = static_cast<int64_t>(Mix64(c) % nb);
    }
    prev_b = b;
    prev_n = n;
  }
  for (int64_t j = k; j < max_ids; ++j) out[j] = buckets;
  return k;
}

}  // namespace kmath
}  // namespace driftrun
