// Text helpers: edit distance and suggestions, console escaping, shortest
// round-trip doubles.
#include "common/text.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <random>

namespace driftrun {
namespace {

TEST(Text, EditDistanceAndClosestMatch) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("trian", "train"), 2u);
  const std::vector<std::string> commands = {"train", "make-data", "predict", "registry"};
  EXPECT_EQ(ClosestMatch("trian", commands), "train");
  EXPECT_EQ(ClosestMatch("registy", commands), "registry");
  EXPECT_EQ(ClosestMatch("zzzzzzzz", commands), "");
  EXPECT_EQ(ClosestMatch("trian", commands, 1), "") << "farther than max_distance";
}

TEST(Text, EscapeForConsoleNeutralisesControlCharacters) {
  EXPECT_EQ(EscapeForConsole("plain name_1.2"), "plain name_1.2");
  EXPECT_EQ(EscapeForConsole("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(EscapeForConsole("\x1b[2Jx"), "\\e[2Jx");
  EXPECT_EQ(EscapeForConsole(std::string("nul\0bel\a", 8)), "nul\\x00bel\\x07");
  EXPECT_EQ(EscapeForConsole("del\x7f"), "del\\x7f");
  EXPECT_EQ(EscapeForConsole("csi\xc2\x9b"), "csi\\u009b") << "C1 control in UTF-8";
  EXPECT_EQ(EscapeForConsole("raw\x9b"), "raw\\x9b") << "a lone byte that is not UTF-8";
  EXPECT_EQ(EscapeForConsole("\xe0\x80\xaf"), "\\xe0\\x80\\xaf") << "overlong form";
  EXPECT_EQ(EscapeForConsole("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80")
      << "printable UTF-8 unchanged";
  EXPECT_EQ(EscapeForConsole("cut\xc3"), "cut\\xc3") << "truncated sequence";
  for (unsigned char c : EscapeForConsole(std::string("\x01\x1b\x7f\n", 4))) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "no control byte survives: " << int(c);
  }
}

TEST(Text, FormatDoubleIsShortestRoundTrip) {
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(3e-5), "3e-05");
  EXPECT_EQ(FormatDouble(1234.5), "1234.5");
  EXPECT_EQ(FormatDouble(-2), "-2");
  EXPECT_EQ(FormatDouble(600), "600") << "not 6e+02";
  EXPECT_EQ(FormatDouble(-1.5e6), "-1500000");
  EXPECT_EQ(FormatDouble(1e20), "1e+20");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-inf");
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  for (int i = 0; i < 2000; ++i) {
    const double v = u(rng) / (1 + i);
    const std::string s = FormatDouble(v);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
    EXPECT_LE(s.size(), 24u) << s;
  }
}

}  // namespace
}  // namespace driftrun
