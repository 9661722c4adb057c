// Running a short command-line tool (sbatch, squeue, scontrol) and reading what
// it printed: argv is executed directly, never through a shell, so no value in
// it is ever parsed as shell syntax.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

struct ProcessResult {
  int exit_code = 0;  // 128+n when killed by signal n; 124 when it ran past the timeout
  std::string out;    // stdout
  std::string err;    // stderr
};

// Runs argv[0] (looked up on PATH) with stdin from /dev/null and waits at most
// timeout_s (then SIGKILL, exit_code 124). Status Infra (exit 5) only when it
// cannot be started at all: not installed (the message names argv[0] and says
// that it must be on PATH), or fork/pipe failures. Each of out and err keeps
// its first 1 MiB.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, double timeout_s);

}  // namespace driftrun
