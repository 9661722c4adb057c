// The command-line parser every subcommand uses: flag spellings, --set, bool
// negation, and usage errors (exit 2) that name the flag.
#include "runner/cli.h"

#include <gflags/gflags.h>
#include <gtest/gtest.h>

#include <vector>

DEFINE_string(cli_test_dir, "", "a string flag");
DEFINE_int32(cli_test_rows, 10, "an int flag");
DEFINE_bool(cli_test_fast, false, "a bool flag");

namespace driftrun {
namespace {

const CommandSpec kSpec = {"probe",
                           "a command for tests",
                           "driftrun probe [flags]",
                           {{"cli_test_dir", "folder"}, {"cli_test_rows", "rows"}, {"cli_test_fast", "fast"}},
                           true};

// argv as ParseArgs sees it: "driftrun probe ARGS...".
Result<ParsedArgs> Parse(std::vector<std::string> args) {
  FLAGS_cli_test_dir = "";
  FLAGS_cli_test_rows = 10;
  FLAGS_cli_test_fast = false;
  args.insert(args.begin(), {"driftrun", "probe"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseArgs(kSpec, static_cast<int>(argv.size()), argv.data(), 2);
}

TEST(Cli, DashesAndUnderscoresNameTheSameFlag) {
  ASSERT_TRUE(Parse({"--cli-test-dir", "a"}).ok());
  EXPECT_EQ(FLAGS_cli_test_dir, "a");
  ASSERT_TRUE(Parse({"--cli_test_dir=b"}).ok());
  EXPECT_EQ(FLAGS_cli_test_dir, "b");
  ASSERT_TRUE(Parse({"--cli-test-rows=7"}).ok());
  EXPECT_EQ(FLAGS_cli_test_rows, 7);
}

TEST(Cli, SetRepeatsAndKeepsOrder) {
  auto r = Parse({"--set", "train.lr=0.1", "--set=train.epochs=3", "--set", "name=x"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().sets, (std::vector<std::string>{"train.lr=0.1", "train.epochs=3", "name=x"}));
  EXPECT_EQ(Parse({"--set"}).status().code(), Code::kUsage);
}

TEST(Cli, BoolFlagsAndTheirNegation) {
  ASSERT_TRUE(Parse({"--cli-test-fast"}).ok());
  EXPECT_TRUE(FLAGS_cli_test_fast);
  ASSERT_TRUE(Parse({"--cli-test-fast", "--nocli-test-fast"}).ok());
  EXPECT_FALSE(FLAGS_cli_test_fast);
  ASSERT_TRUE(Parse({"--cli-test-fast=false"}).ok());
  EXPECT_FALSE(FLAGS_cli_test_fast);
}

TEST(Cli, MistakesAreUsageErrorsNamingTheFlag) {
  auto unknown = Parse({"--cli-test-dri", "a"});
  EXPECT_EQ(unknown.status().code(), Code::kUsage);
  EXPECT_NE(unknown.status().message().find("unknown flag '--cli-test-dri'"), std::string::npos)
      << unknown.status().message();
  auto type = Parse({"--cli-test-rows", "ten"});
  EXPECT_EQ(type.status().code(), Code::kUsage);
  EXPECT_NE(type.status().message().find("--cli-test-rows='ten' is not a valid int32"), std::string::npos)
      << "named as typed: " << type.status().message();
  auto missing = Parse({"--cli-test-dir"});
  EXPECT_EQ(missing.status().code(), Code::kUsage);
  EXPECT_NE(missing.status().message().find("--cli-test-dir needs a value"), std::string::npos);
  // An empty value ("--run-dir=", or an unset shell variable) is not "the default".
  for (const auto& args : {std::vector<std::string>{"--cli-test-dir="}, {"--cli-test-dir", ""}}) {
    auto empty = Parse(args);
    EXPECT_EQ(empty.status().code(), Code::kUsage);
    EXPECT_NE(empty.status().message().find("empty"), std::string::npos) << empty.status().message();
  }
  auto one_dash = Parse({"-cli-test-dir", "a"});
  EXPECT_EQ(one_dash.status().code(), Code::kUsage);
  EXPECT_NE(one_dash.status().message().find("two dashes"), std::string::npos);
  // A flag of another command is unknown here.
  EXPECT_EQ(Parse({"--config", "x.toml"}).status().code(), Code::kUsage);
}

TEST(Cli, UnknownFlagSuggestsTheNearestOne) {
  auto near = Parse({"--cli-test-dri", "a"});
  EXPECT_NE(near.status().message().find("did you mean '--cli-test-dir'?"), std::string::npos)
      << near.status().message();
  auto near_underscore = Parse({"--cli_test_rwos=3"});
  EXPECT_NE(near_underscore.status().message().find("did you mean '--cli-test-rows'?"), std::string::npos)
      << near_underscore.status().message();
  auto far = Parse({"--completely-different"});
  EXPECT_EQ(far.status().code(), Code::kUsage);
  EXPECT_EQ(far.status().message().find("did you mean"), std::string::npos) << far.status().message();
}

TEST(Cli, HelpShowsNoEmptyDefault) {
  const std::string help = CommandHelp(kSpec);
  EXPECT_EQ(help.find("(default \"\")"), std::string::npos) << help;
  EXPECT_NE(help.find("  --cli-test-dir\n"), std::string::npos) << help;
}

TEST(Cli, ReportStatusEscapesControlCharacters) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(ReportStatus("probe", Status::Data("bad name 'a\x1b[2Jb\r'\nsecond line")), 3);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find('\x1b'), std::string::npos) << err;
  EXPECT_EQ(err.find('\r'), std::string::npos) << err;
  EXPECT_NE(err.find("'a\\e[2Jb\\r'"), std::string::npos) << err;
  EXPECT_NE(err.find("\nsecond line"), std::string::npos) << "the message's own lines stay lines: " << err;
}

TEST(Cli, ReportStatusDoesNotDoublePrefixes) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(ReportStatus("probe", Status::Usage("driftrun probe: usage error: no --in")), 2);
  EXPECT_EQ(ReportStatus("probe", Status::Training("promotion refused: m:2 is worse")), 4);
  EXPECT_EQ(ReportStatus("probe", Status::Training("loss is NaN at step 3")), 4);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "driftrun probe: usage error: no --in\n"
            "driftrun probe: promotion refused: m:2 is worse\n"
            "driftrun probe: training failed: loss is NaN at step 3\n");
}

TEST(Cli, HelpAndPositionalArguments) {
  auto r = Parse({"run.toml", "--help", "-"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value().help);
  EXPECT_EQ(r.value().positional, (std::vector<std::string>{"run.toml", "-"}));
  const std::string help = CommandHelp(kSpec);
  for (const char* want :
       {"--cli-test-dir", "--cli-test-rows (default 10)", "--set section.key=value", "--help"}) {
    EXPECT_NE(help.find(want), std::string::npos) << want << "\n" << help;
  }
}

TEST(Cli, ReportStatusReturnsTheExitCode) {
  EXPECT_EQ(ReportStatus("probe", Status::Ok()), 0);
  EXPECT_EQ(ReportStatus("probe", Status::Usage("x")), 2);
  EXPECT_EQ(ReportStatus("probe", Status::Data("")), 3);
  EXPECT_EQ(ReportStatus("probe", Status::Infra("disk full")), 5);
}

}  // namespace
}  // namespace driftrun
