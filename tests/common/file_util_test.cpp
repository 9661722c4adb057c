#include "common/file_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

namespace driftrun {
namespace {

std::string FreshDir(const std::string& name) {
  std::string d = ::testing::TempDir() + "/driftrun_file_util_" + name;
  RemoveTree(d);
  EXPECT_TRUE(MakeDirs(d).ok());
  return d;
}

// The service keeps scored batches this way: a file renamed over the
// original later leaves the kept name as it was, on one file system (a hard
// link) or across two (a copy).
TEST(FileUtil, LinkOrCopyKeepsTheBytesAsTheyWere) {
  const std::string d = FreshDir("link_or_copy");
  ASSERT_TRUE(WriteFileAtomic(d + "/batch.h5", "scored bytes").ok());
  ASSERT_TRUE(LinkOrCopyFile(d + "/batch.h5", d + "/kept.h5").ok());
  struct stat a {
  }, b{};
  ASSERT_EQ(::stat((d + "/batch.h5").c_str(), &a), 0);
  ASSERT_EQ(::stat((d + "/kept.h5").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "one file system: a hard link, no bytes copied";
  ASSERT_TRUE(WriteFileAtomic(d + "/batch.h5", "new bytes renamed over it").ok());
  EXPECT_EQ(ReadFile(d + "/kept.h5").value(), "scored bytes");
  ASSERT_TRUE(LinkOrCopyFile(d + "/batch.h5", d + "/kept.h5").ok()) << "an existing name is left alone";
  EXPECT_EQ(ReadFile(d + "/kept.h5").value(), "scored bytes");
  EXPECT_FALSE(LinkOrCopyFile(d + "/missing.h5", d + "/k2.h5").ok());
  EXPECT_FALSE(PathExists(d + "/k2.h5"));

  struct stat shm {
  }, here{};
  if (::stat("/dev/shm", &shm) != 0 || ::stat(d.c_str(), &here) != 0 || shm.st_dev == here.st_dev)
    GTEST_SKIP() << "no second file system at /dev/shm to copy across";
  const std::string other = "/dev/shm/driftrun_link_or_copy_" + std::to_string(::getpid()) + ".h5";
  ASSERT_TRUE(LinkOrCopyFile(d + "/kept.h5", other).ok());
  EXPECT_EQ(ReadFile(other).value(), "scored bytes") << "across file systems: a copy";
  std::remove(other.c_str());
}

// What a run records of each data file it read: another identity means
// other bytes may be there now (a file renamed over it, or written to).
TEST(FileUtil, FileIdentityChangesWhenTheFileIsReplacedOrWritten) {
  const std::string d = FreshDir("identity");
  ASSERT_TRUE(WriteFileAtomic(d + "/train.h5", "trained bytes").ok());
  const std::string first = FileIdentity(d + "/train.h5");
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(FileIdentity(d + "/train.h5"), first) << "unchanged: the same identity";
  ASSERT_TRUE(WriteFileAtomic(d + "/train.h5", "other bytes!!").ok());  // same size, renamed over it
  EXPECT_NE(FileIdentity(d + "/train.h5"), first);
  EXPECT_EQ(FileIdentity(d + "/missing.h5"), "");
}

TEST(FileUtil, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  std::string d = FreshDir("atomic");
  ASSERT_TRUE(WriteFileAtomic(d + "/a.txt", "first").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/a.txt", "second version").ok());
  EXPECT_EQ(ReadFile(d + "/a.txt").value(), "second version");
  EXPECT_EQ(ListDir(d), std::vector<std::string>{"a.txt"});
}

// A file over the caller's limit is a data error, checked while reading too:
// /dev/zero never ends, and must not exhaust memory.
TEST(FileUtil, ReadFileRefusesFilesOverTheLimit) {
  std::string d = FreshDir("limit");
  ASSERT_TRUE(WriteFileAtomic(d + "/a.txt", std::string(100, 'x')).ok());
  EXPECT_EQ(ReadFile(d + "/a.txt", 100).value().size(), 100u);
  auto over = ReadFile(d + "/a.txt", 99);
  EXPECT_EQ(over.status().code(), Code::kData);
  EXPECT_NE(over.status().message().find("over the limit"), std::string::npos);
  EXPECT_EQ(ReadFile("/dev/zero", 1 << 20).status().code(), Code::kData);
}

TEST(FileUtil, AtomicWriteIntoMissingFolderFailsAsInfraAndWritesNothing) {
  std::string d = FreshDir("missing");
  Status st = WriteFileAtomic(d + "/no/such/folder/a.txt", "x");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInfra);
  EXPECT_NE(st.message().find("no/such/folder"), std::string::npos) << st.message();
  EXPECT_FALSE(PathExists(d + "/no"));
}

TEST(FileUtil, FullDiskIsReportedWithAHint) {
  if (!PathExists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  // /dev/full fails every write with ENOSPC; the temp file lives beside it, so
  // write through a symlinked folder is not possible: call the low-level path.
  Status st = AppendLine("/dev/full", "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("disk full"), std::string::npos) << st.message();
}

TEST(FileUtil, PathHelpers) {
  EXPECT_EQ(DirName("a/b/c.h5"), "a/b");
  EXPECT_EQ(DirName("c.h5"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(BaseName("a/b/c.h5"), "c.h5");
  EXPECT_EQ(BaseName("a/b/"), "b");
  std::string d = FreshDir("helpers");
  ASSERT_TRUE(MakeDirs(d + "/x/y/z").ok());
  EXPECT_TRUE(IsDir(d + "/x/y/z"));
  ASSERT_TRUE(WriteFileAtomic(d + "/x/y/f", "12345").ok());
  EXPECT_EQ(FileSize(d + "/x/y/f"), 5);
  RemoveTree(d + "/x");
  EXPECT_FALSE(PathExists(d + "/x"));
}

TEST(FileUtil, TempNamesAreRecognisedAndStaleOnesRemoved) {
  EXPECT_TRUE(IsTempFileName(BaseName(TempPathFor("d/model.pt"))));
  EXPECT_TRUE(IsTempFileName("manifest.json.tmp.123"));
  EXPECT_FALSE(IsTempFileName("manifest.json"));
  EXPECT_FALSE(IsTempFileName("notes.tmp.txt"));
  EXPECT_FALSE(IsTempFileName(".tmp.12"));
  std::string d = FreshDir("stale");
  // A pid far above pid_max belongs to no process; our own pid is alive.
  const std::string dead = d + "/f.tmp.999999999";
  const std::string live = TempPathFor(d + "/f");
  ASSERT_TRUE(WriteFileAtomic(dead, "x").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/f.tmp.12x", "x").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/g", "x").ok());
  ASSERT_EQ(std::rename((d + "/g").c_str(), live.c_str()), 0);
  RemoveStaleTemps(d + "/f");
  EXPECT_FALSE(PathExists(dead));
  EXPECT_TRUE(PathExists(live));
  EXPECT_TRUE(PathExists(d + "/f.tmp.12x"));
}

TEST(FileUtil, AppendLineAppends) {
  std::string d = FreshDir("append");
  ASSERT_TRUE(AppendLine(d + "/e.jsonl", "{\"a\":1}").ok());
  ASSERT_TRUE(AppendLine(d + "/e.jsonl", "{\"a\":2}").ok());
  EXPECT_EQ(ReadFile(d + "/e.jsonl").value(), "{\"a\":1}\n{\"a\":2}\n");
}

}  // namespace
}  // namespace driftrun
