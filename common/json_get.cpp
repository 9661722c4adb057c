#include "common/json_get.h"

namespace driftrun {
namespace {

const nlohmann::json kNull;
const nlohmann::json kEmptyObject = nlohmann::json::object();

}  // namespace

const nlohmann::json& JsonAt(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return kNull;
  const auto it = o.find(key);
  return it == o.end() ? kNull : *it;
}

const nlohmann::json& JsonObjectAt(const nlohmann::json& o, const char* key) {
  const nlohmann::json& v = JsonAt(o, key);
  return v.is_object() ? v : kEmptyObject;
}

double JsonNumber(const nlohmann::json& o, const char* key, double fallback) {
  const nlohmann::json& v = JsonAt(o, key);
  return v.is_number() ? v.get<double>() : fallback;
}

std::string JsonString(const nlohmann::json& o, const char* key, const std::string& fallback) {
  const nlohmann::json& v = JsonAt(o, key);
  return v.is_string() ? v.get<std::string>() : fallback;
}

int64_t JsonInt(const nlohmann::json& o, const char* key, int64_t fallback) {
  const nlohmann::json& v = JsonAt(o, key);
  return v.is_number_integer() ? v.get<int64_t>() : fallback;
}

bool JsonTrue(const nlohmann::json& o, const char* key) {
  const nlohmann::json& v = JsonAt(o, key);
  return v.is_boolean() && v.get<bool>();
}

}  // namespace driftrun
