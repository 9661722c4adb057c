#include <gtest/gtest.h>

#include <vector>

#include "kernels/kernel_math.h"

namespace driftrun {
namespace {

// The CUDA kernels' grid-stride walk, run on the CPU thread by thread: every
// element is visited exactly once, with its column, for vector widths 1 and 4,
// totals that are and are not multiples of the width, and more threads than
// elements.
TEST(ColumnWalk, VisitsEveryElementOnceWithItsColumn) {
  for (int cols : {1, 3, 7, 8, 32, 33, 1000}) {
    for (int64_t rows : {int64_t{1}, int64_t{5}, int64_t{1001}}) {
      for (int width : {1, 4}) {
        for (int64_t threads : {int64_t{1}, int64_t{3}, int64_t{256}, int64_t{4096}}) {
          const int64_t total = rows * cols, vectors = total / width;
          std::vector<int> seen(static_cast<size_t>(total), 0);
          bool columns_right = true;
          for (int64_t t = 0; t < threads; ++t) {
            for (kmath::ColumnWalk w(t, threads, width, cols); w.vec < vectors; w.Advance(threads)) {
              int j = w.col;
              for (int u = 0; u < width; ++u, j = w.Next(j)) {
                const int64_t e = w.vec * width + u;
                ++seen[static_cast<size_t>(e)];
                columns_right = columns_right && j == e % cols;
              }
            }
            for (int64_t e = kmath::TailBegin(total, width) + t; e < total; e += threads)
              ++seen[static_cast<size_t>(e)];
          }
          EXPECT_TRUE(columns_right) << cols << " cols, " << rows << " rows, width " << width << ", "
                                     << threads << " threads";
          EXPECT_EQ(seen, std::vector<int>(static_cast<size_t>(total), 1))
              << cols << " cols, " << rows << " rows, width " << width << ", " << threads << " threads";
        }
      }
    }
  }
}

}  // namespace
}  // namespace driftrun
