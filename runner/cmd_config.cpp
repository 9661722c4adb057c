// driftrun config: print the resolved config, or the documentation of every key.
#include <gflags/gflags.h>

#include <iostream>

#include "common/config.h"
#include "runner/commands.h"

DECLARE_string(config);
DEFINE_bool(docs, false, "print every key as a Markdown table");

namespace driftrun {

const CommandSpec kConfigSpec = {
    "config",
    "check a config and print it fully resolved (defaults, file, --set), or document every key",
    "driftrun config [--config FILE] [--set section.key=value ...] | driftrun config --docs",
    {{"config", "config file to check and resolve; empty: defaults only"},
     {"docs", "print every key, type, default and meaning as a Markdown table"}},
    true};

int RunConfig(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kConfigSpec, argc, argv, &args, &code)) return code;
  if (FLAGS_docs) {
    std::cout << Config::DocsMarkdown();
    return 0;
  }
  auto cfg = Config::Load(FLAGS_config, args.sets);
  if (!cfg.ok()) return ReportStatus("config", cfg.status());
  std::cout << cfg.value().ToToml();
  return 0;
}

}  // namespace driftrun
