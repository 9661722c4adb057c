// Command-line handling shared by the subcommands.
//
// Flags are gflags flags (DEFINE_* in each command's file), but parsing is done
// here so that: each subcommand accepts only its own flags; `--run-dir` and
// `--run_dir` are the same flag; `--set k=v` may repeat; `--help` prints the
// subcommand's own help; and every mistake is exit code 2 with a message that
// says what to do (gflags alone would exit 1).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

class Config;

struct FlagHelp {
  const char* name;  // as typed, with underscores for dashes; also the gflags name...
  const char* help;
  const char* gflag = nullptr;  // ...unless this names another (two commands, one flag name, two types)
  const char* Gflag() const { return gflag ? gflag : name; }
};

struct CommandSpec {
  const char* name;
  const char* summary;
  const char* usage;
  std::vector<FlagHelp> flags;
  bool takes_set = false;  // accepts repeated --set section.key=value
};

struct ParsedArgs {
  std::vector<std::string> sets;
  std::vector<std::string> positional;
  bool help = false;
};

// Parses argv[first..] for `cmd`, setting gflags values. Usage errors name the
// flag, and an unknown flag close to a known one says "did you mean '--x'?".
Result<ParsedArgs> ParseArgs(const CommandSpec& cmd, int argc, char** argv, int first);

std::string CommandHelp(const CommandSpec& cmd);

// ParseArgs for a subcommand's run function: returns true with *out filled when
// the command should go on; false with *exit_code set when it is done (help was
// printed: 0; a usage error was reported: 2).
bool ParseCommand(const CommandSpec& cmd, int argc, char** argv, ParsedArgs* out, int* exit_code);

// Prints "driftrun <cmd>: <code name>: <message>" to stderr when the message is
// non-empty (each of its lines through EscapeForConsole) and returns the exit code.
int ReportStatus(const std::string& cmd, const Status& st);

// A 0/1 switch from the environment: -1 when unset or empty; any other value
// is Status::Usage (a benchmark must not silently measure the other step).
Result<int> EnvSwitch(const char* name);
// Checks the step switches train reads (DRIFTRUN_AUTOGRAD_STEP,
// DRIFTRUN_STEP_PIPELINE): serve and submit refuse a bad one before any job
// starts with it.
Status CheckStepSwitches();

// Status::Usage when `cfg` (loaded from `path`) is a service config (it sets
// service.models): train and submit would otherwise train the defaults.
Status CheckExperimentConfig(const Config& cfg, const std::string& path);

// Status::Usage when output `out` (named by `flag`) is in a registry's store
// (<registry>/artifacts/, registry.db*: checked by sha256), or replaces the model.onnx or report.html of
// a run folder other than `own_run` (the command's --run; "" for none).
Status CheckNotAnothersFile(const std::string& out, const std::string& flag, const std::string& own_run);

// This driftrun executable's absolute path (what child processes and batch
// scripts run); "driftrun" when /proc/self/exe cannot be read.
std::string SelfExe();

}  // namespace driftrun
