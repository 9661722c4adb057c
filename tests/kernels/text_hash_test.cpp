#include "kernels/text_hash.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <random>

#include "kernels/text_math.h"
#include "tests/kernels/test_data.h"

namespace driftrun {
namespace {

std::vector<int64_t> Row(const std::string& s, const NgramOptions& o) {
  auto t = HashText({s}, o, at::kCPU).take();
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

TEST(TextHash, WordsBigramsAndCharGramsInOrderThenPadding) {
  NgramOptions o;
  o.buckets = 1000;
  o.max_ids = 16;
  // "ab cd": word ab, 2 char trigrams of "<ab>", word cd, bigram "ab cd", 2 trigrams of "<cd>".
  auto r = Row("ab cd", o);
  int used = 0;
  for (int64_t id : r) used += id != o.buckets;
  EXPECT_EQ(used, 1 + 2 + 1 + 1 + 2);
  for (int64_t id : r) EXPECT_TRUE(id >= 0 && id <= o.buckets);
  EXPECT_EQ(r[0], Row("AB", o)[0]) << "words are lower-cased";
  EXPECT_EQ(r, Row("  Ab, cD!!", o)) << "punctuation separates words and is dropped";
  EXPECT_NE(r, Row("cd ab", o)) << "bigrams keep word order";
}

TEST(TextHash, TruncatesAtMaxIdsAndHandlesEmptyText) {
  NgramOptions o;
  o.buckets = 50;
  o.max_ids = 4;
  auto r = Row("one two three four five six", o);
  for (int64_t id : r) EXPECT_LT(id, o.buckets);
  auto e = Row("", o);
  for (int64_t id : e) EXPECT_EQ(id, o.buckets);
  o.char_ngrams = 0;
  o.word_ngrams = 1;
  o.max_ids = 8;
  auto w = Row("a b c", o);
  EXPECT_EQ(w[3], o.buckets) << "words only: three ids";
  EXPECT_NE(w[2], o.buckets);
}

TEST(TextHash, RejectsBadOptions) {
  NgramOptions o;
  o.word_ngrams = 3;
  EXPECT_FALSE(HashText({"x"}, o, at::kCPU).ok());
  o.word_ngrams = 2;
  o.buckets = 0;
  EXPECT_FALSE(HashText({"x"}, o, at::kCPU).ok());
}

std::vector<std::string> RandomTexts(int n) {
  std::mt19937 rng(5);
  const std::string alphabet = "abcdefghijKLMNOP0123 ,.!\xc3\xa9";
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string s;
    const int len = static_cast<int>(rng() % 200);
    for (int j = 0; j < len; ++j) s += alphabet[rng() % alphabet.size()];
    out.push_back(s);
  }
  return out;
}

TEST(TextHash, CudaEqualsCpu) {
  if (!HaveCuda()) GTEST_SKIP() << "no GPU";
  NgramOptions o;
  o.buckets = 1 << 18;
  o.max_ids = 96;
  auto texts = RandomTexts(20000);
  auto cpu = HashText(texts, o, at::kCPU).take();
  auto gpu = HashText(texts, o, at::Device(at::kCUDA, 0));
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  EXPECT_TRUE(at::equal(cpu, gpu.value().cpu()));
}

}  // namespace
}  // namespace driftrun
