// driftrun: keeps production ML models fresh. Dispatches to the subcommands.
#include <gflags/gflags.h>

#include <cstring>
#include <iostream>
#include <new>

#include "common/file_util.h"
#include "common/text.h"
#include "common/version.h"
#include "runner/commands.h"

namespace driftrun {

const std::vector<Subcommand>& Subcommands() {
  static const std::vector<Subcommand> kAll = {
      {&kTrainSpec, RunTrain},     {&kMakeDataSpec, RunMakeData}, {&kConfigSpec, RunConfig},
      {&kProfileSpec, RunProfile}, {&kDriftSpec, RunDrift},       {&kPreprocessSpec, RunPreprocess},
      {&kExportSpec, RunExport},   {&kPredictSpec, RunPredict},   {&kRegistrySpec, RunRegistry},
      {&kServeSpec, RunServe},     {&kSignalSpec, RunSignal},     {&kStatusSpec, RunStatus},
      {&kReplaySpec, RunReplay},   {&kSubmitSpec, RunSubmit},     {&kSweepSpec, RunSweep},
      {&kReportSpec, RunReport},
  };
  return kAll;
}

namespace {

void PrintHelp() {
  std::cout << "driftrun " << kCodeVersion
            << ": drift-triggered retraining of ML models on MPI clusters\n\n"
               "usage: driftrun <command> [flags]     (driftrun <command> --help for its flags)\n\n"
               "commands:\n";
  for (const auto& c : Subcommands()) {
    std::cout << "  " << c.spec->name << std::string(12 - std::strlen(c.spec->name), ' ') << c.spec->summary
              << "\n";
  }
  std::cout
      << "\nexit codes: 0 done, 2 usage or config error, 3 bad input data, 4 training failed or promotion\n"
         "            refused, 5 infrastructure failure (MPI, NCCL, Slurm, disk)\n"
         "examples:\n"
         "  driftrun make-data --out data/demo\n"
         "  mpirun -np 2 driftrun train --config configs/demo.toml --set train.lr=3e-4\n"
         "  driftrun serve --config configs/service.toml\n"
         "  driftrun submit --config configs/demo.toml --ntasks-per-node 4 --time 2:00:00 --dry-run\n";
}

}  // namespace
}  // namespace driftrun

int main(int argc, char** argv) {
  using namespace driftrun;
  InitProcessForFiles();
  if (argc >= 3 && !std::strcmp(argv[1], "help")) {  // `driftrun help train` = `driftrun train --help`
    for (const auto& c : Subcommands()) {
      if (c.spec->name == std::string(argv[2])) {
        char help[] = "--help";
        char* args[] = {argv[0], argv[2], help, nullptr};
        return c.run(3, args);
      }
    }
  }
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    PrintHelp();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "version")) {
    std::cout << "driftrun " << kCodeVersion << "\n";
    return 0;
  }
  for (const auto& c : Subcommands()) {
    if (c.spec->name != std::string(argv[1])) continue;
    // Last resort: an exception no command mapped to a Status ends with an exit
    // code from the contract and a message, never an abort.
    try {
      return c.run(argc, argv);
    } catch (const std::bad_alloc&) {
      std::cerr << ("driftrun " + std::string(argv[1]) + ": infrastructure error: out of memory\n");
      return 5;
    } catch (const std::exception& e) {
      std::cerr << ("driftrun " + std::string(argv[1]) +
                    ": infrastructure error: unexpected failure: " + EscapeForConsole(e.what()) + "\n");
      return 5;
    }
  }
  std::vector<std::string> names;
  for (const auto& c : Subcommands()) names.push_back(c.spec->name);
  const std::string near = ClosestMatch(argv[1], names, 2);
  std::cerr << "driftrun: usage error: unknown command '" << EscapeForConsole(argv[1]) << "'"
            << (near.empty() ? "" : " (did you mean `" + near + "`?)")
            << "; run `driftrun --help` for the list\n";
  return 2;
}
