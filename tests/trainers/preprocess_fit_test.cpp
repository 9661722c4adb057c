// The preprocessing fit over a shard read in pieces (streaming) against the fit
// over the rows held at once: the same parameters for any cut, medians included.
#include "trainers/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>

#include "comm/local_communicator.h"

namespace driftrun {
namespace {

TEST(FitPreprocessorChunked, AnyCutOfTheRowsGivesTheHeldFit) {
  torch::manual_seed(11);
  const int64_t n = 1000, d = 5;
  torch::Tensor x = torch::randn({n, d}) * 3 + 1;
  x.masked_fill_(torch::rand({n, d}) < 0.05, NAN);
  TabularMeta meta;
  meta.dim = d;
  for (int64_t j = 0; j < d; ++j) meta.feature_names.push_back("f" + std::to_string(j));
  TabularSpec spec;
  PreprocessOptions opts;
  opts.columns = {"f1:impute=median", "f3:scale=minmax"};
  LocalCommunicator comm;
  FitResult held = FitPreprocessor(comm, x, {}, spec, meta, opts).value();
  for (int64_t piece : {1, 7, 250, 999}) {
    int passes = 0;
    ChunkPass pass = [&](const ChunkVisitor& visit) -> Status {
      ++passes;
      for (int64_t b = 0; b < n; b += piece) {
        DRIFTRUN_RETURN_IF_ERROR(visit(x.narrow(0, b, std::min(piece, n - b))));
      }
      return Status::Ok();
    };
    FitResult cut = FitPreprocessorChunked(comm, pass, {}, spec, meta, opts).value();
    EXPECT_EQ(passes, 2) << "the median needs a second pass";
    ASSERT_EQ(cut.pre.params.size(), held.pre.params.size());
    for (int64_t j = 0; j < d; ++j) {
      const auto &a = cut.pre.params[j], &b = held.pre.params[j];
      EXPECT_NEAR(a.fill, b.fill, 1e-5 * (1 + std::fabs(b.fill))) << "piece " << piece << " column " << j;
      EXPECT_NEAR(a.shift, b.shift, 1e-5 * (1 + std::fabs(b.shift))) << "piece " << piece << " column " << j;
      EXPECT_NEAR(a.scale, b.scale, 1e-5 * std::fabs(b.scale)) << "piece " << piece << " column " << j;
    }
  }
}

}  // namespace
}  // namespace driftrun
