// driftrun config: print the resolved config, or the documentation of every key.
#include <gflags/gflags.h>

#include <iostream>

#include "common/config.h"
#include "common/text.h"
#include "runner/commands.h"
#include "scheduler/service_setup.h"
#include "tracking/mlflow_client.h"
#include "trainers/train_options.h"

DECLARE_string(config);
DEFINE_bool(docs, false, "print every key as a Markdown table");

namespace driftrun {

const CommandSpec kConfigSpec = {
    "config",
    "check a config (every check train makes before starting) and print it fully resolved, or document "
    "every key",
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
  if (!CheckExperimentConfig(cfg.value(), FLAGS_config).ok()) {
    // A service config: its keys are checked (above); serve checks its models
    // and their data when it starts.
    std::cerr << "note: '" << EscapeForConsole(FLAGS_config)
              << "' is a service config (driftrun serve --config); its keys are valid; serve checks its "
              << cfg.value().StrList("service.models").size()
              << " model config(s) and their data when it starts\n";
    std::cout << cfg.value().ToToml();
    return 0;
  }
  // The checks `train` makes before any work (ranges, names): the same code.
  auto checked = TrainOptions::FromConfig(cfg.value(), 1);
  if (!checked.ok()) return ReportStatus("config", checked.status());
  // A model config for serve (it sets a key of [monitor], [trigger] or
  // [retrain]; train ignores them): what serve checks in it.
  bool served = false;
  for (const char* key :
       {"monitor.incoming", "monitor.min_rows", "trigger.consecutive", "trigger.of", "trigger.cooldown_s",
        "trigger.max_per_day", "trigger.metric_drop", "retrain.ranks", "retrain.window", "retrain.warm_start",
        "retrain.promote", "retrain.priority", "retrain.reference"}) {
    served = served || cfg.value().Origin(key) != "default";
  }
  if (Status svc = served ? CheckServiceKeys(cfg.value(), true) : Status::Ok(); !svc.ok())
    return ReportStatus("config", svc.WithContext("as a model config for driftrun serve"));
  if (Status uri = CheckTrackingUri(cfg.value().Str("mlflow.tracking_uri")); !uri.ok())
    return ReportStatus("config", uri);
  std::cout << cfg.value().ToToml();
  return 0;
}

}  // namespace driftrun
