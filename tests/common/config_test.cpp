#include "common/config.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

namespace driftrun {
namespace {

TEST(Config, DefaultsCoverEverySchemaKey) {
  auto c = Config::FromString("", "t.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c.value().Int("train.batch_size"), 256);
  EXPECT_DOUBLE_EQ(c.value().Float("train.lr"), 1e-3);
  EXPECT_EQ(c.value().Str("dist.backend"), "auto");
  EXPECT_EQ(c.value().IntList("model.hidden"), (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(c.value().Origin("train.lr"), "default");
}

// A key that is not in the schema is a bug in driftrun's code: loud, but an
// exception main reports (exit 5), not an abort.
TEST(Config, UnknownKeyInCodeThrowsLogicError) {
  auto c = Config::FromString("", "t.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_THROW(c.value().Str("train.no_such_key"), std::logic_error);
  EXPECT_THROW(c.value().Int("train.lr"), std::logic_error);  // a float key read as an int
}

TEST(Config, FileValuesAndOrigins) {
  auto c = Config::FromString("name = \"x\"\n[train]\nlr = 3e-4\nepochs = 2\n[model]\nhidden = [4]\n",
                              "e.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_DOUBLE_EQ(c.value().Float("train.lr"), 3e-4);
  EXPECT_EQ(c.value().Int("train.epochs"), 2);
  EXPECT_EQ(c.value().Str("name"), "x");
  EXPECT_EQ(c.value().Origin("train.lr"), "e.toml:3");
}

TEST(Config, IntegerAcceptedForFloatKey) {
  auto c = Config::FromString("[train]\nlr = 1\n", "e.toml", {});
  ASSERT_TRUE(c.ok());
  EXPECT_DOUBLE_EQ(c.value().Float("train.lr"), 1.0);
}

TEST(Config, UnknownKeyNamesFileLineAndSuggests) {
  auto c = Config::FromString("[train]\nepochs = 2\nlrr = 0.1\n", "exp.toml", {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUsage);
  EXPECT_NE(c.status().message().find("exp.toml:3"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("train.lrr"), std::string::npos);
  EXPECT_NE(c.status().message().find("did you mean 'train.lr'"), std::string::npos);
}

TEST(Config, UnknownSectionIsAnError) {
  auto c = Config::FromString("[trian]\nepochs = 2\n", "exp.toml", {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("exp.toml:1"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("[trian]"), std::string::npos);
}

TEST(Config, WrongTypeNamesLineKeyAndTypes) {
  auto c = Config::FromString("\n[train]\nbatch_size = \"big\"\n", "exp.toml", {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUsage);
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("exp.toml:3"), std::string::npos) << m;
  EXPECT_NE(m.find("train.batch_size"), std::string::npos);
  EXPECT_NE(m.find("integer"), std::string::npos);
}

TEST(Config, FloatForIntegerKeyIsRejected) {
  auto c = Config::FromString("[train]\nepochs = 2.5\n", "exp.toml", {});
  ASSERT_FALSE(c.ok());
}

TEST(Config, ChoiceOutsideEnumIsRejected) {
  auto c = Config::FromString("[train]\noptimizer = \"lbfgs\"\n", "exp.toml", {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("sgd|adam|adamw"), std::string::npos) << c.status().message();
}

TEST(Config, SyntaxErrorNamesLine) {
  auto c = Config::FromString("[train]\nlr = = 3\n", "exp.toml", {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("exp.toml:2"), std::string::npos) << c.status().message();
}

// Found by a stranger: --set train.lr=1e400 said "must be a number, got a string".
TEST(Config, SetNumberOutOfRangeSaysSo) {
  for (const char* set : {"train.lr=1e400", "train.epochs=99999999999999999999"}) {
    auto c = Config::FromString("", "e.toml", {set});
    ASSERT_FALSE(c.ok()) << set;
    EXPECT_EQ(c.status().code(), Code::kUsage);
    EXPECT_NE(c.status().message().find("is not a number TOML can hold"), std::string::npos)
        << c.status().message();
  }
  auto word = Config::FromString("", "e.toml", {"train.lr=fast"});  // a word is still a wrong type
  ASSERT_FALSE(word.ok());
  EXPECT_NE(word.status().message().find("got a string"), std::string::npos) << word.status().message();
  auto tiny = Config::FromString("", "e.toml", {"train.lr=1e-400"});  // parses as 0
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find("too small for a double"), std::string::npos)
      << tiny.status().message();
  auto zero = Config::FromString("", "e.toml", {"preprocess.clip_sigma=0.0e-400"});  // 0 written as 0
  EXPECT_TRUE(zero.ok()) << zero.status().message();
}

// Found by a stranger: only the first typo was reported, one per try.
TEST(Config, EveryMistakeInTheFileIsReportedInLineOrder) {
  auto c = Config::FromString("[train]\nlr = \"fast\"\nbogus = 1\n[modle]\nx = 1\n", "e.toml", {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUsage);
  const std::string& m = c.status().message();
  const size_t a = m.find("e.toml:2: key 'train.lr'"), b = m.find("e.toml:3: unknown key 'train.bogus'"),
               d = m.find("e.toml:4: unknown section '[modle]'");
  ASSERT_TRUE(a != std::string::npos && b != std::string::npos && d != std::string::npos) << m;
  EXPECT_TRUE(a < b && b < d) << m;
}

// Found by a stranger: three bad --set options took three tries; a broken
// list said "got a string".
TEST(Config, EveryBadSetIsReportedAtOnce) {
  auto c = Config::FromString("", "e.toml", {"train.lrr=1", "train.epochs=abc", "model.hidden=[16,16"});
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  for (const char* want :
       {"--set train.lrr=1: unknown key", "--set train.epochs=abc: key 'train.epochs' must be",
        "--set model.hidden=[16,16: '[16,16' is not valid TOML"})
    EXPECT_NE(m.find(want), std::string::npos) << want << " in:\n" << m;
}

TEST(Config, SetOverridesFileAndParsesTomlValues) {
  auto c = Config::FromString(
      "[train]\nlr = 0.1\n", "e.toml",
      {"train.lr=3e-4", "train.optimizer=sgd", "model.hidden=[8, 4]", "train.shuffle=false"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_DOUBLE_EQ(c.value().Float("train.lr"), 3e-4);
  EXPECT_EQ(c.value().Str("train.optimizer"), "sgd");
  EXPECT_EQ(c.value().IntList("model.hidden"), (std::vector<int64_t>{8, 4}));
  EXPECT_FALSE(c.value().Bool("train.shuffle"));
  EXPECT_EQ(c.value().Origin("train.lr"), "--set train.lr=3e-4");
}

TEST(Config, BadSetIsUsageError) {
  for (const char* bad : {"train.lr", "train.nope=1", "train.epochs=abc", "=3"}) {
    auto c = Config::FromString("", "e.toml", {bad});
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), Code::kUsage);
    EXPECT_NE(c.status().message().find("--set"), std::string::npos) << c.status().message();
  }
}

TEST(Config, ResolvedTomlRoundTripsToTheSameHash) {
  auto c = Config::FromString("[train]\nlr = 0.25\n[model]\nhidden = [3, 5]\n", "e.toml", {"name=abc"});
  ASSERT_TRUE(c.ok());
  auto again = Config::FromString(c.value().ToToml(), "resolved.toml", {});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(c.value().Hash(), again.value().Hash());
  EXPECT_EQ(again.value().Str("name"), "abc");
  auto other = Config::FromString("[train]\nlr = 0.5\n", "e.toml", {});
  EXPECT_NE(c.value().Hash(), other.value().Hash());
}

TEST(Config, DocsListEveryKey) {
  std::string docs = Config::DocsMarkdown();
  for (const auto& k : ConfigSchema()) {
    std::string full = std::string(k.section).empty() ? k.key : std::string(k.section) + "." + k.key;
    EXPECT_NE(docs.find("`" + full + "`"), std::string::npos) << full;
  }
}

TEST(Config, MissingFileIsUsageError) {
  auto c = Config::Load("/nonexistent/x.toml", {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUsage);
  EXPECT_NE(c.status().message().find("/nonexistent/x.toml"), std::string::npos);
}

}  // namespace
}  // namespace driftrun
