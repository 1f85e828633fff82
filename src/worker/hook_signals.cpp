// HookSignals (hook_signals.h). gunicorn runs worker_int and worker_abort from Python signal
// handlers on the worker's main thread; here the loop thread may be inside the app, so the
// handler only writes the signal's number into a pipe, and a thread of its own reads it and
// takes the GIL to run the hook. (Blocking the signals and sigwait'ing for them instead left
// them blocked in every process the app spawned: the mask survives exec.)
#include "worker/hook_signals.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "app/pyconf.h"
#include "log/log.h"
#include "worker/fork_guard.h"

namespace cppicorn::worker {
namespace {

// The pipe's ends, for the life of the worker process (a handler cannot own anything).
int g_read_fd = -1;
std::atomic<int> g_write_fd{-1};

constexpr unsigned char kStop = 0;  // no signal has number 0

void on_hook_signal(int sig) {
  int saved = errno;
  unsigned char byte = static_cast<unsigned char>(sig);
  (void)!::write(g_write_fd.load(std::memory_order_relaxed), &byte, 1);
  errno = saved;
}

void set_handler(int sig) {
  struct sigaction sa {};
  sa.sa_handler = on_hook_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

}  // namespace

bool HookSignals::wanted() {
  return app::pyconf::defined("worker_int") || app::pyconf::defined("worker_abort");
}

void HookSignals::install() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    spdlog::error("worker_int/worker_abort hooks not run: pipe: {}", std::strerror(errno));
    return;
  }
  ForkGuard::add(fds[0]);  // a child the app forks must not take the worker's signals
  ForkGuard::add(fds[1]);
  g_read_fd = fds[0];
  g_write_fd.store(fds[1], std::memory_order_relaxed);
  if (app::pyconf::defined("worker_int")) {
    set_handler(SIGINT);
    set_handler(SIGQUIT);
  }
  if (app::pyconf::defined("worker_abort")) set_handler(SIGABRT);
}

HookSignals::HookSignals(const app::HookWorker& worker, const config::Settings& cfg)
    : worker_(worker), cfg_(cfg) {
  if (g_read_fd >= 0) thread_ = std::thread([this] { wait(); });
}

HookSignals::~HookSignals() {
  if (!thread_.joinable()) return;
  (void)!::write(g_write_fd.load(std::memory_order_relaxed), &kStop, 1);
  thread_.join();
}

void HookSignals::wait() {
  unsigned char sig = kStop;
  while (::read(g_read_fd, &sig, 1) < 0 && errno == EINTR) {
  }
  if (sig == kStop) return;
  app::pyconf::call(sig == SIGABRT ? "worker_abort" : "worker_int",
                    {.worker = &worker_, .cfg = &cfg_});
  log::flush();
  if (sig != SIGABRT) _exit(0);  // as INT and QUIT do without the hook (worker.cpp)
  // Die of SIGABRT, as the master expects of a worker it timed out.
  signal(SIGABRT, SIG_DFL);
  raise(SIGABRT);
  _exit(1);
}

}  // namespace cppicorn::worker
