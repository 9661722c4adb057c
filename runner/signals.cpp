#include "runner/signals.h"

#include <csignal>

namespace driftrun {
namespace {

std::atomic<int> g_stop{0};  // written only by the signal handler

extern "C" void OnStopSignal(int sig) {
  g_stop.store(sig);
}

}  // namespace

const std::atomic<int>* InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  return &g_stop;
}

}  // namespace driftrun
