// MpiCommunicator against real MPI: run by CTest under `mpirun -np 3` and as a
// single process; main() is tests/mpi_gtest_main.cpp.
#include "comm/mpi_communicator.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include "comm/collectives.h"
#include "comm/shared_memory.h"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace driftrun {
namespace {

TEST(MpiCommunicator, AllReduceSumMaxMin) {
  auto c_or = MpiCommunicator::Create(MPI_COMM_WORLD);
  ASSERT_TRUE(c_or.ok()) << c_or.status().message();
  MpiCommunicator& c = *c_or.value();
  const int n = c.size();
  std::vector<double> v = {1.0, static_cast<double>(c.rank())};
  ASSERT_TRUE(c.AllReduce(v.data(), 2, DType::kFloat64, ReduceOp::kSum).ok());
  EXPECT_DOUBLE_EQ(v[0], n);
  EXPECT_DOUBLE_EQ(v[1], n * (n - 1) / 2.0);
  int64_t m = c.rank();
  ASSERT_TRUE(c.AllReduce(&m, 1, DType::kInt64, ReduceOp::kMax).ok());
  EXPECT_EQ(m, n - 1);
  float f = static_cast<float>(c.rank() + 5);
  ASSERT_TRUE(c.AllReduce(&f, 1, DType::kFloat32, ReduceOp::kMin).ok());
  EXPECT_EQ(f, 5.0f);
}

TEST(MpiCommunicator, AsyncAllReduceOfManyBuffersInOrder) {
  auto c_or = MpiCommunicator::Create(MPI_COMM_WORLD);
  ASSERT_TRUE(c_or.ok()) << c_or.status().message();
  MpiCommunicator& c = *c_or.value();
  std::vector<std::vector<float>> bufs(4, std::vector<float>(1000));
  std::vector<std::unique_ptr<Work>> work;
  for (size_t b = 0; b < bufs.size(); ++b) {
    for (size_t i = 0; i < 1000; ++i) bufs[b][i] = static_cast<float>(c.rank() + b + i);
    work.push_back(c.AllReduceAsync(bufs[b].data(), 1000, DType::kFloat32, ReduceOp::kSum));
  }
  for (auto& w : work) ASSERT_TRUE(w->Wait().ok());
  const int n = c.size();
  for (size_t b = 0; b < bufs.size(); ++b) {
    for (size_t i = 0; i < 1000; i += 97) {
      EXPECT_EQ(bufs[b][i], static_cast<float>(n * (n - 1) * 0.5 + n * static_cast<double>(b + i)));
    }
  }
}

TEST(MpiCommunicator, BroadcastAndAgree) {
  auto c_or = MpiCommunicator::Create(MPI_COMM_WORLD);
  ASSERT_TRUE(c_or.ok()) << c_or.status().message();
  MpiCommunicator& c = *c_or.value();
  std::string s = c.rank() == 0 ? "from rank 0" : "";
  ASSERT_TRUE(BroadcastString(c, &s).ok());
  EXPECT_EQ(s, "from rank 0");
  Status st =
      AgreeStatus(c, c.rank() == c.size() - 1 ? Status::Data("last rank saw bad data") : Status::Ok());
  EXPECT_EQ(st.code(), Code::kData);
  ASSERT_TRUE(c.Barrier().ok());
}

// Names in /dev/shm that driftrun made.
int DriftrunShmObjects() {
  int n = 0;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d)) n += std::strncmp(e->d_name, "driftrun-", 9) == 0;
    closedir(d);
  }
  return n;
}

TEST(SharedMemory, EveryRankSeesEveryPartAndNothingStaysInDevShm) {
  auto c_or = MpiCommunicator::Create(MPI_COMM_WORLD);
  ASSERT_TRUE(c_or.ok()) << c_or.status().message();
  MpiCommunicator& c = *c_or.value();
  const int n = c.size();
  std::vector<size_t> bytes;
  for (int r = 0; r < n; ++r) bytes.push_back(size_t{1000} * (r + 1));  // parts of different sizes
  std::string why;
  auto m_or = SharedMemory::Map(c, bytes, &why);
  ASSERT_TRUE(m_or.ok()) << m_or.status().message();
  ASSERT_NE(m_or.value(), nullptr) << why;  // all ranks of this test run on one host
  SharedMemory& m = *m_or.value();
  ASSERT_TRUE(c.Barrier().ok());
  EXPECT_EQ(DriftrunShmObjects(), 0) << "the name is unlinked once every rank has mapped it";
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(m.offset(r) % 4096, 0u);
    if (r + 1 < n) {
      EXPECT_GE(m.offset(r + 1) - m.offset(r), bytes[r]);
    }
  }
  auto* mine = static_cast<int32_t*>(m.part(c.rank()));
  for (size_t i = 0; i < bytes[c.rank()] / 4; ++i) mine[i] = c.rank() * 100000 + static_cast<int32_t>(i);
  ASSERT_TRUE(c.Barrier().ok());
  for (int r = 0; r < n; ++r) {
    const auto* theirs = static_cast<const int32_t*>(m.part(r));
    for (size_t i = 0; i < bytes[r] / 4; i += 37) ASSERT_EQ(theirs[i], r * 100000 + static_cast<int32_t>(i));
  }
  ASSERT_TRUE(c.Barrier().ok());  // nobody unmaps while another still reads
}

TEST(SharedMemory, ObjectsLeftByKilledJobsAreRemovedOnlyWhenTheirCreatorIsGone) {
  auto c_or = MpiCommunicator::Create(MPI_COMM_WORLD);
  ASSERT_TRUE(c_or.ok()) << c_or.status().message();
  MpiCommunicator& c = *c_or.value();
  std::string dead, alive = "/dev/shm/driftrun-" + std::to_string(getpid()) + "-00000000000000aa";
  if (c.rank() == 0) {
    const pid_t child = fork();  // a pid that no longer runs once reaped
    if (child == 0) _exit(0);
    waitpid(child, nullptr, 0);
    dead = "/dev/shm/driftrun-" + std::to_string(child) + "-00000000000000bb";
    for (const std::string& f : {dead, alive}) std::fclose(std::fopen(f.c_str(), "w"));
  }
  std::string why;
  auto m_or = SharedMemory::Map(c, std::vector<size_t>(c.size(), 4096), &why);
  ASSERT_TRUE(m_or.ok() && m_or.value()) << why;
  if (c.rank() == 0) {
    EXPECT_NE(access(dead.c_str(), F_OK), 0) << "an orphan of a dead process is removed: " << dead;
    EXPECT_EQ(access(alive.c_str(), F_OK), 0) << "a running process's object is kept: " << alive;
    std::remove(alive.c_str());
  }
  ASSERT_TRUE(c.Barrier().ok());
}

TEST(SharedMemory, TooLargeForDevShmIsNullOnEveryRankNotACrash) {
  auto c_or = MpiCommunicator::Create(MPI_COMM_WORLD);
  ASSERT_TRUE(c_or.ok()) << c_or.status().message();
  MpiCommunicator& c = *c_or.value();
  std::string why;
  // More than any /dev/shm here: posix_fallocate refuses it.
  std::vector<size_t> bytes(c.size(), size_t{1} << 50);
  auto m_or = SharedMemory::Map(c, bytes, &why);
  ASSERT_TRUE(m_or.ok()) << m_or.status().message();
  EXPECT_EQ(m_or.value(), nullptr);
  EXPECT_FALSE(why.empty());
  ASSERT_TRUE(c.Barrier().ok());
  EXPECT_EQ(DriftrunShmObjects(), 0);
}

}  // namespace
}  // namespace driftrun
