// HookSignals: in a worker whose Python config defines worker_int or worker_abort, a thread
// that takes INT and QUIT (worker_int) or ABRT (worker_abort, the master's timeout) with
// sigwait, runs the hook, then ends the process as the signal would have.
#pragma once

#include <atomic>
#include <thread>

#include "app/pyconf_plugin.h"

namespace cppicorn::worker {

class HookSignals {
 public:
  // Which of the signals the config wants (false, false: nothing to do).
  static bool wanted();
  // Blocks the wanted signals in the calling thread, and so in every thread it starts later
  // (the app's, the pool's): call early in boot. They stay pending until the thread runs.
  static void block();
  // Starts the thread: once the worker booted, and its GIL released (app::pyconf::release).
  HookSignals(const app::HookWorker& worker, const config::Settings& cfg);
  // Stops and joins the thread; before the interpreter finalizes.
  ~HookSignals();
  HookSignals(const HookSignals&) = delete;
  HookSignals& operator=(const HookSignals&) = delete;

 private:
  void wait();

  app::HookWorker worker_;
  const config::Settings& cfg_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace cppicorn::worker
