// Model references and names. A reference is "name" (newest version),
// "name:3" (a version) or "name@production" (an alias). Names and aliases are
// 1-128 of [A-Za-z0-9._-], starting with a letter or digit, without "..", so
// they can never name a path outside the registry. Pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "common/text.h"

namespace driftrun {

struct ModelRef {
  std::string name;
  int64_t version = 0;  // 0: not given
  std::string alias;    // "": not given
};

// Status::Usage naming the bad part (exit 2).
Result<ModelRef> ParseModelRef(const std::string& ref);
// ValidateName (model names, aliases) lives in common/text.h: configs are
// checked with the same rule before any training.

}  // namespace driftrun
