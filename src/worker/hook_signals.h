// HookSignals: in a worker whose Python config defines worker_int or worker_abort, a
// handler for INT and QUIT (worker_int) or ABRT (worker_abort, the master's timeout) that
// hands the signal to a thread of its own, which runs the hook, then ends the process as the
// signal would have.
#pragma once

#include <atomic>
#include <thread>

#include "app/pyconf_plugin.h"

namespace cppicorn::worker {

class HookSignals {
 public:
  // Which of the signals the config wants (false, false: nothing to do).
  static bool wanted();
  // Installs the handler for the wanted signals: call early in boot. One that comes before
  // the thread starts waits in its pipe. No signal is blocked, so nothing the app spawns
  // inherits a mask that ignores INT, QUIT or ABRT.
  static void install();
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
  std::thread thread_;
};

}  // namespace cppicorn::worker
