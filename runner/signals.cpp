#include "runner/signals.h"

#include <csignal>
#include <cstring>

namespace driftrun {
namespace {

std::atomic<int> g_stop{0};  // written only by the signal handler

extern "C" void OnStopSignal(int sig) {
  g_stop.store(sig);
}

void Install() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGUSR2, &sa, nullptr);  // slurm.signal = "USR2"
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
}

// Runs from the executable's .preinit_array: before any shared library's
// initializer (LibTorch's take about 0.4 s), so a stop signal in the first
// moments of `driftrun train` is not fatal. glibc passes main's arguments.
// Other commands keep the default dispositions (SIGTERM ends them).
void InstallEarly(int argc, char** argv, char**) {
  if (argc >= 2 && argv && argv[1] && std::strcmp(argv[1], "train") == 0) Install();
}

}  // namespace

// Referenced by InstallStopHandlers, so the linker keeps it with this object.
__attribute__((section(".preinit_array"), used)) void (*const kInstallEarly)(int, char**,
                                                                             char**) = InstallEarly;

const std::atomic<int>* InstallStopHandlers() {
  Install();
  return &g_stop;
}

}  // namespace driftrun
