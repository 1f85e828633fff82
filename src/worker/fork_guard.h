// ForkGuard: what a process the app forks from a worker (os.fork, a multiprocessing pool, a
// C extension that daemonizes) does not inherit from it. A pthread_atfork child handler,
// armed once in each worker, runs in every such child before the app's code does (signals
// stay blocked across fork() until then): the server's signal handlers go back to default,
// the signal mask is emptied, the server's fds
// (listeners, the loop's epoll set and signal pipe, AcceptWatch's eventfds, client sockets,
// the boot pipe) are closed and the scoreboard is replaced by private zeroes. Without it a
// child's SIGTERM ran the worker's handler, which stopped the worker, and an orphan kept the
// port listening and ignored SIGTERM.
//
// A child that execs is clean anyway: every server fd is O_CLOEXEC and exec resets handlers.
// glibc's posix_spawn/vfork paths skip atfork handlers but exec at once.
#pragma once

#include <cstddef>

namespace cppicorn::worker {

// Static because pthread_atfork takes plain functions and the state is per process: one
// worker per process. Everything the child handler touches is preallocated memory.
class ForkGuard {
 public:
  // In a worker, once, right after the master forked it (so the master's own forks, of
  // workers and of a USR2 upgrade, are untouched). shared/bytes: the scoreboard mapping,
  // which children must not write.
  static void arm(void* shared, size_t bytes);
  // Disarms (the worker is tearing its loop down: its fds are about to close).
  static void disarm();

  // Marks fd as the server's (a forked child closes it) / no longer (closed by the server,
  // its number free for the app). Lock-free and allocation-free: connections call these.
  static void add(int fd);
  static void remove(int fd);
};

}  // namespace cppicorn::worker
