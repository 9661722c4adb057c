#include "dataio/h5_io.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "common/file_util.h"
#include "dataio/tabular_data.h"
#include "tests/common/test_paths.h"

namespace driftrun {
namespace {

std::string WriteSample(const std::string& dir, int64_t rows = 10, int64_t cols = 3) {
  std::vector<float> x(rows * cols);
  std::vector<float> y(rows);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) x[i * cols + j] = static_cast<float>(i * 100 + j);
    y[i] = static_cast<float>(i);
  }
  auto w = H5Writer::Create(dir + "/d.h5");
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE(w.value()->Write("/features", {rows, cols}, x.data()).ok());
  EXPECT_TRUE(w.value()->Write("/labels", {rows}, y.data()).ok());
  EXPECT_TRUE(w.value()->AttrStrings("/", "feature_names", {"a", "b", "c"}).ok());
  EXPECT_TRUE(w.value()->Commit().ok());
  return dir + "/d.h5";
}

// A file can declare any shape in a few bytes: reads are sized by the read limit
// too, and one over it is a data error naming the limit, never a huge allocation.
TEST(H5Io, ReadOverTheReadLimitIsADataError) {
  std::string path = WriteSample(FreshTestDir());
  auto r = H5Reader::Open(path);
  ASSERT_TRUE(r.ok());
  const int64_t saved = H5ReadLimitBytes();
  SetH5ReadLimitBytes(64);
  std::vector<float> out;
  Status big = r.value()->ReadRange("/features", 0, 10, &out);   // 120 bytes
  Status small = r.value()->ReadRange("/features", 0, 5, &out);  // 60 bytes
  auto names = r.value()->AttrStrings("/", "feature_names");     // 3 pointers
  SetH5ReadLimitBytes(saved);
  EXPECT_EQ(big.code(), Code::kData);
  EXPECT_NE(big.message().find("read limit"), std::string::npos) << big.message();
  EXPECT_TRUE(small.ok()) << small.ToString();
  EXPECT_TRUE(names.ok()) << names.status().ToString();
}

TEST(H5Io, ReadRowsKeepsRequestedOrder) {
  std::string path = WriteSample(FreshTestDir());
  auto r = H5Reader::Open(path);
  ASSERT_TRUE(r.ok());
  std::vector<float> out;
  ASSERT_TRUE(r.value()->ReadRows("/features", {7, 2, 3, 9}, &out).ok());
  ASSERT_EQ(out.size(), 12u);
  EXPECT_EQ(out[0], 700);
  EXPECT_EQ(out[3], 200);
  EXPECT_EQ(out[6], 300);
  EXPECT_EQ(out[11], 902);
  ASSERT_TRUE(r.value()->ReadRange("/features", 4, 2, &out).ok());
  EXPECT_EQ(out, (std::vector<float>{400, 401, 402, 500, 501, 502}));
}

// Scattered rows are read in windows of nearby rows (at most 16 MiB of the
// file, broken at gaps over 256 KiB). With 4096 floats a row (16 KiB) a window
// spans at most 1024 rows and reads through gaps of at most 16: the rows below
// cross both limits, dense and sparse, and come back in the order asked.
TEST(H5Io, ScatteredRowsAcrossWindowsComeBackInOrder) {
  const int64_t rows = 3000, cols = 4096;
  std::vector<float> x(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) x[i * cols + j] = static_cast<float>(i * 10000 + j % 7);
  const std::string path = FreshTestDir() + "/wide.h5";
  {
    auto w = H5Writer::Create(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w.value()->Write("/features", {rows, cols}, x.data()).ok());
    ASSERT_TRUE(w.value()->Commit().ok());
  }
  std::vector<int64_t> want;
  for (int64_t r = 0; r < 1500; r += 3) want.push_back(r);      // dense: several full windows
  for (int64_t r = 1500; r < 2400; r += 40) want.push_back(r);  // gaps wider than 16 rows
  want.push_back(rows - 1);
  std::reverse(want.begin(), want.end());
  std::swap(want[0], want[want.size() / 2]);
  auto r = H5Reader::Open(path);
  ASSERT_TRUE(r.ok());
  std::vector<float> out;
  ASSERT_TRUE(r.value()->ReadRows("/features", want, &out).ok());
  ASSERT_EQ(out.size(), want.size() * cols);
  for (size_t k = 0; k < want.size(); ++k) {
    for (int64_t j = 0; j < cols; j += 511)
      ASSERT_EQ(out[k * cols + j], static_cast<float>(want[k] * 10000 + j % 7)) << "row " << want[k];
  }
}

TEST(H5Io, OutOfRangeAndMissingDatasetAreDataErrors) {
  std::string path = WriteSample(FreshTestDir());
  auto r = H5Reader::Open(path).take();
  std::vector<float> out;
  Status st = r->ReadRange("/features", 8, 5, &out);
  EXPECT_EQ(st.code(), Code::kData);
  EXPECT_EQ(r->ReadRows("/features", {10}, &out).code(), Code::kData);
  auto info = r->Info("/nope/features");
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("/nope/features"), std::string::npos);
}

TEST(H5Io, InspectTabularReadsNamesAndChecksShapes) {
  std::string path = WriteSample(FreshTestDir());
  auto r = H5Reader::Open(path).take();
  TabularSpec spec;
  spec.path = path;
  auto m = InspectTabular(*r, spec);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m.value().rows, 10);
  EXPECT_EQ(m.value().dim, 3);
  EXPECT_EQ(m.value().feature_names, (std::vector<std::string>{"a", "b", "c"}));
  spec.classification = true;  // float labels are not class ids
  EXPECT_EQ(InspectTabular(*r, spec).status().code(), Code::kData);
}

TEST(H5Io, TruncatedFileIsADataError) {
  std::string dir = FreshTestDir();
  std::string path = WriteSample(dir, 2000, 8);
  ASSERT_EQ(::truncate(path.c_str(), FileSize(path) / 2), 0);
  auto r = H5Reader::Open(path);
  if (r.ok()) {
    std::vector<float> out;
    Status st = r.value()->ReadRange("/features", 0, 2000, &out);
    EXPECT_EQ(st.code(), Code::kData);
  } else {
    EXPECT_EQ(r.status().code(), Code::kData);
    EXPECT_NE(r.status().message().find(path), std::string::npos);
  }
}

// Bytes written into an open file (same size) or a truncation: the reader says
// so (a streamed run must not train on what it read); a file replaced by a
// rename is not a change to the open one.
TEST(H5Io, CheckUnchangedSeesWritesAndTruncationNotRenames) {
  std::string dir = FreshTestDir();
  std::string path = WriteSample(dir, 2000, 8);
  {
    auto r = H5Reader::Open(path);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.value()->CheckUnchanged().ok());
    const std::string copy = dir + "/copy.h5";
    ASSERT_TRUE(WriteFileAtomic(copy, ReadFile(path).value()).ok());
    ASSERT_EQ(std::rename(copy.c_str(), path.c_str()), 0);
    EXPECT_TRUE(r.value()->CheckUnchanged().ok()) << "a rename leaves the open file as it was";
  }
  auto r = H5Reader::Open(path);
  ASSERT_TRUE(r.ok());
  ::usleep(50000);  // file times tick coarsely (a few ms)
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(FileSize(path) / 2);
    f.write("\0\0\0\0", 4);
  }
  Status st = r.value()->CheckUnchanged();
  EXPECT_EQ(st.code(), Code::kData);
  EXPECT_NE(st.message().find("changed while"), std::string::npos) << st.message();
  ASSERT_EQ(::truncate(path.c_str(), FileSize(path) / 2), 0);
  st = r.value()->CheckUnchanged();
  EXPECT_EQ(st.code(), Code::kData);
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
}

TEST(H5Io, MissingAndNonHdf5FilesAreDataErrors) {
  std::string dir = FreshTestDir();
  EXPECT_EQ(H5Reader::Open(dir + "/none.h5").status().code(), Code::kData);
  std::ofstream(dir + "/text.h5") << "not hdf5";
  auto r = H5Reader::Open(dir + "/text.h5");
  EXPECT_EQ(r.status().code(), Code::kData);
  EXPECT_NE(r.status().message().find("not an HDF5 file"), std::string::npos);
}

TEST(H5Io, UncommittedWriterLeavesNothing) {
  std::string dir = FreshTestDir();
  {
    auto w = H5Writer::Create(dir + "/x.h5").take();
    float v = 1;
    ASSERT_TRUE(w->Write("/a", {1}, &v).ok());
  }
  EXPECT_TRUE(ListDir(dir).empty());
}

}  // namespace
}  // namespace driftrun
