// Fuzz target: the TOML config loader with its schema (common/config.h).
// Input: a config file's text; lines after a line "#--set" are --set overrides.
// Every input must give a Config or a Status; a loaded config must print as
// TOML that loads back to the same config (same hash).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> sets;
  const size_t marker = text.find("#--set\n");
  if (marker != std::string::npos) {
    std::string rest = text.substr(marker + 7);
    text.resize(marker);
    size_t pos = 0;
    while (pos <= rest.size() && sets.size() < 16) {
      size_t nl = rest.find('\n', pos);
      if (nl == std::string::npos) nl = rest.size();
      if (nl > pos) sets.push_back(rest.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  auto cfg = driftrun::Config::FromString(text, "fuzz.toml", sets);
  if (!cfg.ok()) return 0;
  const std::string toml = cfg.value().ToToml();
  auto again = driftrun::Config::FromString(toml, "resolved.toml", {});
  if (!again.ok() || again.value().Hash() != cfg.value().Hash() ||
      !again.value().Differences(cfg.value()).empty()) {
    std::fprintf(stderr, "resolved config does not load back: %s\n%s\n",
                 again.ok() ? "different values" : again.status().ToString().c_str(), toml.c_str());
    std::abort();
  }
  return 0;
}
