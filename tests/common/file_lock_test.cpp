#include "common/file_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/file_util.h"

namespace driftrun {
namespace {

std::string FreshDir(const std::string& name) {
  std::string d = ::testing::TempDir() + "/driftrun_file_lock_" + name;
  RemoveTree(d);
  EXPECT_TRUE(MakeDirs(d).ok());
  return d;
}

// Runs `f` in a child process; returns its exit status.
template <typename F>
int InChild(F f) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(f());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

TEST(FileLock, SecondHolderIsRefusedNamingTheFirst) {
  const std::string p = FreshDir("second") + "/run.lock";
  std::string warning;
  auto a = FileLock::Acquire(p, "run folder 'x'", &warning);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_TRUE(warning.empty());
  EXPECT_EQ(ReadFile(p).value(), LockOwnerText() + "\n");
  // flock excludes other open file descriptions, in this process or another.
  const int rc = InChild([&] {
    std::string w;
    auto b = FileLock::Acquire(p, "run folder 'x'", &w);
    if (b.ok()) return 1;
    if (b.status().code() != Code::kUsage) return 2;
    if (b.status().message().find("pid=" + std::to_string(::getppid())) == std::string::npos) return 3;
    if (b.status().message().find("run folder 'x' is in use") == std::string::npos) return 4;
    return 0;
  });
  EXPECT_EQ(rc, 0);
  a.value().Release();
  EXPECT_FALSE(PathExists(p));
  auto c = FileLock::Acquire(p, "run folder 'x'", &warning);
  EXPECT_TRUE(c.ok());
  EXPECT_TRUE(warning.empty());
}

TEST(FileLock, LockOfADeadProcessIsTakenOverWithAWarning) {
  const std::string p = FreshDir("stale") + "/run.lock";
  // A child takes the lock and dies without releasing it (as kill -9 would).
  const int rc = InChild([&] {
    std::string w;
    auto l = FileLock::Acquire(p, "x", &w);
    if (!l.ok()) return 1;
    ::_exit(0);  // no destructor: the file stays, the kernel drops the flock
  });
  ASSERT_EQ(rc, 0);
  ASSERT_TRUE(PathExists(p));
  const std::string left = ReadFile(p).value();
  std::string warning;
  auto l = FileLock::Acquire(p, "run folder 'x'", &warning);
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_NE(warning.find("stale lock"), std::string::npos) << warning;
  EXPECT_NE(warning.find(left.substr(left.find("pid=") + 4, left.size() - left.find("pid=") - 5)),
            std::string::npos)
      << warning << " / " << left;
  EXPECT_EQ(ReadFile(p).value(), LockOwnerText() + "\n");
}

TEST(FileLock, LiveLockHolderNamesOnlyALiveHolder) {
  const std::string p = FreshDir("live") + "/service.lock";
  EXPECT_EQ(LiveLockHolder(p), "") << "no lock file";
  const int rc = InChild([&] {
    std::string w;
    auto l = FileLock::Acquire(p, "x", &w);
    if (!l.ok()) return 1;
    ::_exit(0);  // dies holding it (kill -9): the file stays
  });
  ASSERT_EQ(rc, 0);
  ASSERT_TRUE(PathExists(p));
  EXPECT_EQ(LiveLockHolder(p), "") << "its process has died";
  std::string w;
  auto l = FileLock::Acquire(p, "x", &w);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(LiveLockHolder(p), LockOwnerText());
  l.value().Release();
  EXPECT_EQ(LiveLockHolder(p), "") << "released";
}

TEST(FileLock, MovedLockIsReleasedOnce) {
  const std::string p = FreshDir("moved") + "/run.lock";
  std::string warning;
  FileLock held;
  {
    auto a = FileLock::Acquire(p, "x", &warning);
    ASSERT_TRUE(a.ok());
    held = std::move(a.value());
  }
  EXPECT_TRUE(held.held());
  EXPECT_TRUE(PathExists(p));
  held = FileLock();
  EXPECT_FALSE(PathExists(p));
}

}  // namespace
}  // namespace driftrun
