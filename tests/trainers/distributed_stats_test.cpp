// Merged statistics over real MPI ranks equal the single-rank statistics of the
// whole file: run by CTest under mpirun with 1, 2 and 3 ranks. Rank 0 writes an
// HDF5 file; every rank reads its contiguous share (a hyperslab), computes column
// statistics and histograms with the kernels, and merges them across ranks.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include "comm/mpi_communicator.h"
#include "common/file_util.h"
#include "dataio/h5_io.h"
#include "dataio/sharding.h"
#include "kernels/column_stats.h"
#include "kernels/histogram.h"
#include "kernels/quantiles.h"
#include "tests/kernels/test_data.h"
#include "trainers/distributed_stats.h"

namespace driftrun {
namespace {

TEST(DistributedStats, MergedOverRanksEqualsWholeFile) {
  auto comm_or = MpiCommunicator::Create(MPI_COMM_WORLD);
  ASSERT_TRUE(comm_or.ok()) << comm_or.status().message();
  MpiCommunicator& comm = *comm_or.value();
  const int64_t rows = 100003, cols = 6;
  auto x = SpecialData(rows, cols, 99);
  std::string path = ::testing::TempDir() + "/driftrun_dist_stats.h5";
  std::string shared = path;
  if (comm.rank() == 0) {
    auto w = H5Writer::Create(path).take();
    ASSERT_TRUE(w->Write("/features", {rows, cols}, x.data()).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  ASSERT_TRUE(comm.Barrier().ok());
  auto [b, e] = ContiguousShare(rows, comm.rank(), comm.size());
  auto r = H5Reader::Open(path).take();
  std::vector<float> mine;
  ASSERT_TRUE(r->ReadRange("/features", b, e - b, &mine).ok());
  auto stats = ColumnStats(AsTensor(mine, e - b, cols)).take();
  ASSERT_TRUE(AllReduceMoments(comm, &stats).ok());
  auto whole = ColumnStatsCpu(x.data(), rows, cols);
  for (int64_t j = 0; j < cols; ++j) {
    EXPECT_EQ(stats[j].n, whole[j].n) << j;
    EXPECT_EQ(stats[j].nonfinite, whole[j].nonfinite) << j;
    if (whole[j].n == 0) continue;
    EXPECT_NEAR(stats[j].mean, whole[j].mean, 1e-12 * (1 + std::fabs(whole[j].mean))) << j;
    EXPECT_NEAR(stats[j].m2, whole[j].m2, 1e-10 * whole[j].m2 + 1e-12) << j;
    EXPECT_EQ(stats[j].min, whole[j].min) << j;
    EXPECT_EQ(stats[j].max, whole[j].max) << j;
  }
  at::Tensor edges = FineEdges(whole, 64);
  at::Tensor counts = Histograms(AsTensor(mine, e - b, cols), edges).take();
  ASSERT_TRUE(AllReduceCounts(comm, &counts).ok());
  EXPECT_TRUE(at::equal(counts, Histograms(AsTensor(x, rows, cols), edges).take()));
  ASSERT_TRUE(comm.Barrier().ok());
  if (comm.rank() == 0) RemoveTree(path);
}

}  // namespace
}  // namespace driftrun
