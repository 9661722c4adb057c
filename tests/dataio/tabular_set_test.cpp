// Several training files read as one table, on real HDF5 files: ranges across
// files, columns matched by name, each file's own holdout split, and the
// layouts that cannot be one table.
#include "dataio/tabular_set.h"

#include <gtest/gtest.h>

#include "tests/common/test_paths.h"

namespace driftrun {
namespace {

// rows x 3 features named `names`, value = 1000 * tag + 10 * row + column
// index in "a, b, c" order (so a reordered file reads back the same values).
std::string Write(const std::string& path, int64_t rows, int tag, const std::vector<std::string>& names,
                  int64_t cols = 3) {
  std::vector<float> x(static_cast<size_t>(rows) * static_cast<size_t>(cols));
  std::vector<float> y(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const int canonical = names.empty() ? static_cast<int>(j) : names[j][0] - 'a';
      x[static_cast<size_t>(i * cols + j)] = static_cast<float>(int64_t{1000} * tag + 10 * i + canonical);
    }
    y[static_cast<size_t>(i)] = static_cast<float>(int64_t{1000} * tag + i);
  }
  auto w = H5Writer::Create(path);
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE(w.value()->Write("/features", {rows, cols}, x.data()).ok());
  EXPECT_TRUE(w.value()->Write("/labels", {rows}, y.data()).ok());
  if (!names.empty()) {
    EXPECT_TRUE(w.value()->AttrStrings("/features", "feature_names", names).ok());
  }
  EXPECT_TRUE(w.value()->Commit().ok());
  return path;
}

TEST(TabularSet, ARangeAcrossFilesReadsEachInTheFirstFilesColumnOrder) {
  const std::string d = FreshTestDir();
  const std::string a = Write(d + "/a.h5", 5, 1, {"a", "b", "c"});
  const std::string b = Write(d + "/b.h5", 4, 2, {"c", "a", "b"});  // same columns, other order
  auto set = TabularSet::Open({a, b}, TabularSpec());
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(set.value()->meta().rows, 9);
  EXPECT_EQ(set.value()->offset(1), 5);
  TabularRows r;
  ASSERT_TRUE(set.value()->ReadRange(3, 4, 0, &r).ok());
  ASSERT_EQ(r.rows, 4);
  // rows 3, 4 of a; rows 0, 1 of b, with b's columns put back in a, b, c order.
  const std::vector<float> want = {1030, 1031, 1032, 1040, 1041, 1042, 2000, 2001, 2002, 2010, 2011, 2012};
  EXPECT_EQ(r.x, want);
  EXPECT_EQ(r.y, (std::vector<float>{1003, 1004, 2000, 2001}));
  EXPECT_FALSE(set.value()->ReadRange(8, 2, 0, &r).ok()) << "past the end";
}

TEST(TabularSet, ReorderReadsEveryFileInTheGivenColumnOrder) {
  const std::string d = FreshTestDir();
  const std::string a = Write(d + "/a.h5", 2, 1, {"a", "b", "c"});
  const std::string b = Write(d + "/b.h5", 1, 2, {"c", "a", "b"});
  auto set = TabularSet::Open({a, b}, TabularSpec());
  ASSERT_TRUE(set.ok()) << set.status().message();
  ASSERT_TRUE(set.value()->Reorder({"b", "c", "a"}, "the checkpoint").ok());
  EXPECT_EQ(set.value()->meta().feature_names, (std::vector<std::string>{"b", "c", "a"}));
  TabularRows r;
  ASSERT_TRUE(set.value()->ReadRange(0, 3, 0, &r).ok());
  EXPECT_EQ(r.x, (std::vector<float>{1001, 1002, 1000, 1011, 1012, 1010, 2001, 2002, 2000}));
  Status other = set.value()->Reorder({"a", "b", "z"}, "the checkpoint");
  EXPECT_EQ(other.code(), Code::kData);
  EXPECT_NE(other.message().find("z"), std::string::npos) << other.message();
  ASSERT_TRUE(set.value()->ReadRange(2, 1, 0, &r).ok());  // a refusal changed nothing
  EXPECT_EQ(r.x, (std::vector<float>{2001, 2002, 2000}));
  // Files without names: by position, nothing to reorder.
  auto unnamed = TabularSet::Open({Write(d + "/u.h5", 2, 3, {})}, TabularSpec());
  ASSERT_TRUE(unnamed.ok());
  EXPECT_TRUE(unnamed.value()->Reorder({"b", "c", "a"}, "the checkpoint").ok());
  ASSERT_TRUE(unnamed.value()->ReadRange(0, 1, 0, &r).ok());
  EXPECT_EQ(r.x, (std::vector<float>{3000, 3001, 3002}));
}

TEST(TabularSet, EachFileKeepsItsOwnHoldoutRows) {
  const std::string d = FreshTestDir();
  const std::string a = Write(d + "/a.h5", 300, 1, {"a", "b", "c"});
  const std::string b = Write(d + "/b.h5", 200, 2, {"a", "b", "c"});
  auto set = TabularSet::Open({a, b}, TabularSpec());
  ASSERT_TRUE(set.ok());
  TrainValSplit all = set.value()->Split(0.2);
  TrainValSplit sa = SplitTrainVal(300, 0.2), sb = SplitTrainVal(200, 0.2);
  std::vector<int64_t> val = sa.val;
  for (int64_t r : sb.val) val.push_back(300 + r);
  EXPECT_EQ(all.val, val);
  EXPECT_EQ(all.train.size() + all.val.size(), 500u);
  auto one = TabularSet::Open({a}, TabularSpec());
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one.value()->Split(0.2).val, sa.val) << "one file splits as it always did";
}

TEST(TabularSet, FilesThatCannotBeOneTableAreRefused) {
  const std::string d = FreshTestDir();
  const std::string a = Write(d + "/a.h5", 5, 1, {"a", "b", "c"});
  const std::string other = Write(d + "/other.h5", 5, 2, {"a", "b", "x"});
  const std::string wide = Write(d + "/wide.h5", 5, 3, {"a", "b", "c", "d"}, 4);
  const std::string unnamed = Write(d + "/unnamed.h5", 5, 4, {});
  for (const auto& [bad, words] :
       std::vector<std::pair<std::string, std::string>>{{other, "x"},
                                                        {wide, "shape [4]"},
                                                        {unnamed, "feature_names"},
                                                        {d + "/missing.h5", "missing.h5"}}) {
    auto set = TabularSet::Open({a, bad}, TabularSpec());
    ASSERT_FALSE(set.ok()) << bad;
    EXPECT_EQ(set.status().exit_code(), 3) << set.status().message();
    EXPECT_NE(set.status().message().find(words), std::string::npos) << set.status().message();
  }
  EXPECT_EQ(TabularSet::Open({}, TabularSpec()).status().exit_code(), 2);
}

TEST(TabularSet, FeatureMatricesAppendRowsMatchedByName) {
  const std::string d = FreshTestDir();
  const std::string a = Write(d + "/a.h5", 2, 1, {"a", "b", "c"});
  const std::string b = Write(d + "/b.h5", 1, 2, {"b", "c", "a"});
  auto m = ReadFeatureMatrices({a, b}, "/features");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m.value().rows, 3);
  EXPECT_EQ(m.value().names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(m.value().x, (std::vector<float>{1000, 1001, 1002, 1010, 1011, 1012, 2000, 2001, 2002}));
}

}  // namespace
}  // namespace driftrun
