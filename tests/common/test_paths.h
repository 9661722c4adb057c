// A fresh, empty folder per test under the system temp folder. (POSIX helpers,
// not std::filesystem: see [std::filesystem and libtorch] in common/file_util.h.)
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/file_util.h"

namespace driftrun {

inline std::string FreshTestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  std::string d = ::testing::TempDir() + "/driftrun_" + name;
  RemoveTree(d);
  EXPECT_TRUE(MakeDirs(d).ok());
  return d;
}

}  // namespace driftrun
