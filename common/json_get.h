// Reading JSON that another version of driftrun wrote, or a person edited
// (journal verdicts, registry records): a missing key or a value of another
// type gives the fallback; nlohmann's value() and operator[] would throw or
// assert instead.
//
// Thread-safety: stateless.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace driftrun {

// o[key] when o is an object holding key, else null.
const nlohmann::json& JsonAt(const nlohmann::json& o, const char* key);
// o[key] when it is an object, else an empty object.
const nlohmann::json& JsonObjectAt(const nlohmann::json& o, const char* key);
double JsonNumber(const nlohmann::json& o, const char* key, double fallback);
std::string JsonString(const nlohmann::json& o, const char* key, const std::string& fallback = "");
int64_t JsonInt(const nlohmann::json& o, const char* key, int64_t fallback);
// true only for a JSON true.
bool JsonTrue(const nlohmann::json& o, const char* key);

}  // namespace driftrun
