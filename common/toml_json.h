// One TOML value (as a config key's value is written: '...' strings, lists)
// as JSON text, for output that scripts read (`driftrun sweep status --json`
// params). Implemented in config.cpp, which holds the TOML parser.
#pragma once

#include <string>

namespace driftrun {

// "" when `value` is not a TOML value.
std::string TomlValueAsJson(const std::string& value);

}  // namespace driftrun
