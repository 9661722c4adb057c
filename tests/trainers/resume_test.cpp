#include "trainers/resume.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "common/file_util.h"

namespace driftrun {
namespace {

// Runs each test in a fresh folder: run folders default to ./runs/.
class RunFolderClaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/driftrun_resume_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    RemoveTree(dir_);
    ASSERT_TRUE(MakeDirs(dir_).ok());
    ASSERT_NE(::getcwd(old_, sizeof(old_)), nullptr);
    ASSERT_EQ(::chdir(dir_.c_str()), 0);
  }
  void TearDown() override { ASSERT_EQ(::chdir(old_), 0); }
  std::string dir_;
  char old_[4096];
};

TEST_F(RunFolderClaimTest, FreshRunsInTheSameSecondGetTheirOwnLockedFolders) {
  RunFolderChoice a, b, c;
  RunFolderClaim ca, cb, cc;
  ASSERT_TRUE(ClaimRunFolder("", "", "exp", false, &a, &ca).ok());
  ASSERT_TRUE(ClaimRunFolder("", "", "exp", false, &b, &cb).ok());
  ASSERT_TRUE(ClaimRunFolder("", "auto", "exp", false, &c, &cc).ok());  // nothing to resume: fresh
  EXPECT_NE(a.run_dir, b.run_dir);
  EXPECT_NE(b.run_dir, c.run_dir);
  EXPECT_NE(a.run_dir, c.run_dir);
  for (const auto* x : {&a, &b, &c}) {
    EXPECT_TRUE(IsDir(x->run_dir));
    EXPECT_TRUE(PathExists(x->run_dir + "/run.lock"));
    EXPECT_TRUE(IsRunFolderNameOf(BaseName(x->run_dir), "exp")) << x->run_dir;
  }
}

TEST_F(RunFolderClaimTest, AnUncommittedClaimRemovesTheFolderItCreated) {
  std::string made;
  {
    RunFolderChoice a;
    RunFolderClaim ca;
    ASSERT_TRUE(ClaimRunFolder("", "", "exp", false, &a, &ca).ok());
    made = a.run_dir;
  }
  EXPECT_FALSE(PathExists(made));
  {
    RunFolderChoice a;
    RunFolderClaim ca;
    ASSERT_TRUE(ClaimRunFolder("mine", "", "exp", false, &a, &ca).ok());
    ca.committed = true;
  }
  EXPECT_TRUE(IsDir("mine"));
  EXPECT_FALSE(PathExists("mine/run.lock"));  // released, not left behind
}

TEST_F(RunFolderClaimTest, AHeldFolderIsRefused) {
  RunFolderChoice a, b;
  RunFolderClaim ca, cb;
  ASSERT_TRUE(ClaimRunFolder("shared", "", "exp", false, &a, &ca).ok());
  Status st = ClaimRunFolder("shared", "auto", "exp", false, &b, &cb);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kUsage);
  EXPECT_NE(st.message().find("pid=" + std::to_string(::getpid())), std::string::npos) << st.message();
}

TEST_F(RunFolderClaimTest, ResumeWithOverwriteIsRefused) {
  RunFolderChoice a;
  RunFolderClaim ca;
  Status st = ClaimRunFolder("x", "auto", "exp", true, &a, &ca);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kUsage);
  EXPECT_NE(st.message().find("--overwrite"), std::string::npos);
  EXPECT_FALSE(PathExists("x"));
}

TEST_F(RunFolderClaimTest, AFileAsTheRunFolderIsAUsageError) {
  { std::ofstream("train.h5") << "data"; }
  RunFolderChoice a;
  RunFolderClaim ca;
  for (const char* resume : {"", "auto"}) {
    Status st = ClaimRunFolder("train.h5", resume, "exp", false, &a, &ca);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), Code::kUsage) << st.message();
    EXPECT_NE(st.message().find("is a file, not a folder"), std::string::npos) << st.message();
  }
  std::ifstream in("train.h5");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "data");  // untouched
}

}  // namespace
}  // namespace driftrun
