#include "common/sha256.h"

#include <gtest/gtest.h>

#include <fstream>

namespace driftrun {
namespace {

// FIPS 180-4 / NIST example vectors.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7);
  Sha256 h;
  for (size_t i = 0; i < data.size(); i += 13)
    h.Update(data.data() + i, std::min<size_t>(13, data.size() - i));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(data));
}

TEST(Sha256, FileMatchesBytesAndMissingFileFails) {
  std::string path = ::testing::TempDir() + "/sha_test.bin";
  std::ofstream(path, std::ios::binary) << "abc";
  auto h = Sha256File(path);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h.value(), Sha256Hex("abc"));
  EXPECT_FALSE(Sha256File(path + ".missing").ok());
}

}  // namespace
}  // namespace driftrun
