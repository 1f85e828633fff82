#include "worker/fork_guard.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "worker/worker.h"

namespace cppicorn::worker {
namespace {

// fds above this are never marked (a hard RLIMIT_NOFILE this high is never seen in practice;
// the bitmap for it is 512 KiB of address space, touched only where fds are).
constexpr size_t kMaxTrackedFds = size_t{1} << 22;

// One bit per fd number: set while the fd is the server's. Words are atomic because a fork
// from another thread (the app's, a thread pool's) copies them while the loop changes them.
std::atomic<uint64_t>* g_bits = nullptr;
size_t g_words = 0;
std::atomic<size_t> g_used{0};  // words [0, g_used) may have bits set
std::atomic<bool> g_armed{false};
void* g_shared = nullptr;
size_t g_shared_bytes = 0;
// The forking thread's mask, blocked across fork() so that no signal reaches the child
// before its handlers are reset (a TERM sent to a child that was just forked ran the
// worker's handler, and the worker stopped).
thread_local sigset_t t_mask_before_fork;
thread_local bool t_blocked = false;

void before_fork() {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  sigset_t all;
  sigfillset(&all);
  t_blocked = pthread_sigmask(SIG_BLOCK, &all, &t_mask_before_fork) == 0;
}

void in_parent() {
  if (t_blocked) pthread_sigmask(SIG_SETMASK, &t_mask_before_fork, nullptr);
  t_blocked = false;
}

// Runs in the child of every fork() in an armed worker, before fork() returns there. Only
// async-signal-safe calls: the child of a multithreaded process may have been forked while
// another thread held malloc's or spdlog's lock.
void in_child() {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  // The child's own children are not ours to clean: the fd numbers may be its own by then.
  g_armed.store(false, std::memory_order_relaxed);
  // Signals stay blocked (before_fork) until the end: none of our handlers may run in
  // here, writing into the worker's loop or into whatever gets a closed fd's number next.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig : kLoopSignals) sigaction(sig, &dfl, nullptr);
  for (int sig : {SIGINT, SIGQUIT, SIGABRT, SIGPIPE}) sigaction(sig, &dfl, nullptr);
  const size_t used = g_used.load(std::memory_order_relaxed);
  for (size_t w = 0; w < used; ++w) {
    for (uint64_t bits = g_bits[w].load(std::memory_order_relaxed); bits != 0; bits &= bits - 1)
      ::close(static_cast<int>(w * 64 + static_cast<size_t>(std::countr_zero(bits))));
  }
  // MADV_DONTFORK left the scoreboard out of the child; private zeroes in its place keep
  // a stray access (a child that returns into server code) from faulting, and reach no one.
  // (Should it fail, the range stays unmapped: the child still cannot reach the master.)
  if (g_shared != nullptr)
    (void)mmap(g_shared, g_shared_bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  // Empty, whatever thread forked (a pool thread blocks every signal): what came in since
  // fork() is delivered now (to a clean child), by default.
  t_blocked = false;
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace

void ForkGuard::arm(void* shared, size_t bytes) {
  static bool registered = false;
  if (!registered) {
    rlimit lim{};
    size_t fds = kMaxTrackedFds;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_max != RLIM_INFINITY)
      fds = std::min(fds, static_cast<size_t>(lim.rlim_max));
    g_words = (fds + 63) / 64;
    void* p = mmap(nullptr, g_words * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || pthread_atfork(before_fork, in_parent, in_child) != 0) {
      spdlog::warn("Cannot guard forks of the app: {}", strerror(errno));
      if (p != MAP_FAILED) munmap(p, g_words * sizeof(uint64_t));
      g_words = 0;
      return;
    }
    g_bits = static_cast<std::atomic<uint64_t>*>(p);  // zeroed pages are zero atomics
    registered = true;
  }
  // Children of the app, whatever path they are forked by, get no copy of the scoreboard.
  if (shared != nullptr && madvise(shared, bytes, MADV_DONTFORK) == 0) {
    g_shared = shared;
    g_shared_bytes = bytes;
  }
  g_armed.store(true, std::memory_order_relaxed);
}

void ForkGuard::disarm() { g_armed.store(false, std::memory_order_relaxed); }

void ForkGuard::add(int fd) {
  const auto w = static_cast<size_t>(fd) / 64;
  if (fd < 0 || w >= g_words) return;
  g_bits[w].fetch_or(uint64_t{1} << (fd % 64), std::memory_order_relaxed);
  size_t used = g_used.load(std::memory_order_relaxed);
  while (used <= w && !g_used.compare_exchange_weak(used, w + 1, std::memory_order_relaxed)) {
  }
}

void ForkGuard::remove(int fd) {
  const auto w = static_cast<size_t>(fd) / 64;
  if (fd < 0 || w >= g_words) return;
  g_bits[w].fetch_and(~(uint64_t{1} << (fd % 64)), std::memory_order_relaxed);
}

}  // namespace cppicorn::worker
