// Safe reads of JSON written by another version or by hand (common/json_get.h).
#include "common/json_get.h"

#include <gtest/gtest.h>

#include <cmath>

namespace driftrun {
namespace {

TEST(JsonGet, PresentValuesOfTheRightTypeAreRead) {
  const nlohmann::json o = {{"n", 2.5}, {"i", 7}, {"b", true}, {"o", {{"x", 1}}}};
  EXPECT_EQ(JsonNumber(o, "n", 0), 2.5);
  EXPECT_EQ(JsonNumber(o, "i", 0), 7.0);
  EXPECT_EQ(JsonInt(o, "i", 0), 7);
  EXPECT_EQ(JsonString(nlohmann::json{{"s", "a"}}, "s"), "a");
  EXPECT_TRUE(JsonTrue(o, "b"));
  EXPECT_EQ(JsonObjectAt(o, "o"), (nlohmann::json{{"x", 1}}));
  EXPECT_EQ(JsonAt(o, "i"), 7);
}

TEST(JsonGet, MissingKeysOtherTypesAndNonObjectsGiveTheFallback) {
  const nlohmann::json o = {{"n", "2.5"}, {"i", 7.5}, {"b", 1}, {"o", {1, 2}}};
  EXPECT_TRUE(std::isnan(JsonNumber(o, "n", NAN)));
  EXPECT_EQ(JsonNumber(o, "missing", -1), -1);
  EXPECT_EQ(JsonInt(o, "i", -3), -3);  // a float is not an integer
  EXPECT_FALSE(JsonTrue(o, "b"));      // 1 is not true
  EXPECT_EQ(JsonString(o, "i", "-"), "-");
  EXPECT_TRUE(JsonObjectAt(o, "o").is_object() && JsonObjectAt(o, "o").empty());
  for (const nlohmann::json& not_object : {nlohmann::json(), nlohmann::json(3), nlohmann::json::array()}) {
    EXPECT_TRUE(JsonAt(not_object, "n").is_null());
    EXPECT_EQ(JsonNumber(not_object, "n", 4), 4);
    EXPECT_TRUE(JsonObjectAt(not_object, "n").empty());
  }
}

}  // namespace
}  // namespace driftrun
