// The subcommands of `driftrun`. Each parses argv from index 2 on and returns the
// process exit code (DESIGN.md, Exit codes).
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "runner/cli.h"

namespace driftrun {

struct Subcommand {
  const CommandSpec* spec;
  int (*run)(int argc, char** argv);
};

extern const CommandSpec kTrainSpec;
extern const CommandSpec kMakeDataSpec;
extern const CommandSpec kConfigSpec;
extern const CommandSpec kProfileSpec;
extern const CommandSpec kDriftSpec;
extern const CommandSpec kPreprocessSpec;
extern const CommandSpec kExportSpec;
extern const CommandSpec kPredictSpec;
extern const CommandSpec kRegistrySpec;
extern const CommandSpec kServeSpec;
extern const CommandSpec kSignalSpec;
extern const CommandSpec kStatusSpec;
extern const CommandSpec kReplaySpec;
extern const CommandSpec kSubmitSpec;
extern const CommandSpec kSweepSpec;
extern const CommandSpec kReportSpec;

int RunTrain(int argc, char** argv);
int RunMakeData(int argc, char** argv);
int RunConfig(int argc, char** argv);
int RunProfile(int argc, char** argv);
int RunDrift(int argc, char** argv);
int RunPreprocess(int argc, char** argv);
int RunExport(int argc, char** argv);
int RunPredict(int argc, char** argv);
int RunRegistry(int argc, char** argv);
int RunServe(int argc, char** argv);
int RunSignal(int argc, char** argv);
int RunStatus(int argc, char** argv);
int RunReplay(int argc, char** argv);
int RunSubmit(int argc, char** argv);
int RunSweep(int argc, char** argv);
int RunReport(int argc, char** argv);

// `driftrun submit` of a config with [sweep] params (runner/cmd_sweep.cpp).
struct SweepTrial;
struct SlurmOptions;
struct SweepRequest {
  std::string config, name, run_dir, driftrun, method;
  std::vector<std::string> sets;  // the user's --set and the merged [slurm] keys
  const std::vector<SweepTrial>* trials = nullptr;
  const SlurmOptions* slurm = nullptr;
  int max_parallel = 0;
  int ranks = 1;  // per trial
  bool dry_run = false, json = false;
};
Status SubmitSweep(const SweepRequest& r);
// What `driftrun train` would refuse at its start (runner/cmd_submit.cpp):
// the training options on `ranks` ranks, and the ONNX exporter when the run
// exports or registers. Checked before anything is queued.
Status CheckSubmittable(const Config& cfg, int ranks);

const std::vector<Subcommand>& Subcommands();

// Test hooks shared by `train` and the pool's workers (cmd_train.cpp):
// DRIFTRUN_FAULT_SIGNAL_AT_STEP, DRIFTRUN_FAULT_SLEEP_AT_STEP, _SLEEP_S, _RANK.
struct FaultInjection;
FaultInjection FaultFromEnv();

}  // namespace driftrun
