// HookSignals (hook_signals.h). gunicorn runs worker_int and worker_abort from Python signal
// handlers on the worker's main thread; here the loop thread may be inside the app, so a
// thread of its own waits for the signal and takes the GIL to run the hook.
#include "worker/hook_signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "app/pyconf.h"
#include "log/log.h"

namespace cppicorn::worker {
namespace {

sigset_t wanted_set() {
  sigset_t set;
  sigemptyset(&set);
  if (app::pyconf::defined("worker_int")) {
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
  }
  if (app::pyconf::defined("worker_abort")) sigaddset(&set, SIGABRT);
  return set;
}

}  // namespace

bool HookSignals::wanted() {
  return app::pyconf::defined("worker_int") || app::pyconf::defined("worker_abort");
}

void HookSignals::block() {
  sigset_t set = wanted_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

HookSignals::HookSignals(const app::HookWorker& worker, const config::Settings& cfg)
    : worker_(worker), cfg_(cfg), thread_([this] { wait(); }) {}

HookSignals::~HookSignals() {
  stopping_ = true;
  // A wanted signal sent to the thread itself ends its sigwait; it then sees stopping_.
  sigset_t set = wanted_set();
  int sig = sigismember(&set, SIGQUIT) ? SIGQUIT : SIGABRT;
  pthread_kill(thread_.native_handle(), sig);
  thread_.join();
}

void HookSignals::wait() {
  sigset_t set = wanted_set();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  if (stopping_) return;
  app::pyconf::call(sig == SIGABRT ? "worker_abort" : "worker_int",
                    {.worker = &worker_, .cfg = &cfg_});
  log::flush();
  if (sig != SIGABRT) _exit(0);  // as INT and QUIT do without the hook (worker.cpp)
  // Die of SIGABRT, as the master expects of a worker it timed out.
  signal(SIGABRT, SIG_DFL);
  sigset_t abrt;
  sigemptyset(&abrt);
  sigaddset(&abrt, SIGABRT);
  pthread_sigmask(SIG_UNBLOCK, &abrt, nullptr);
  raise(SIGABRT);
  _exit(1);
}

}  // namespace cppicorn::worker
