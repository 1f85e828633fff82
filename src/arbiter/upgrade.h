// Upgrade: the USR2 binary hand-off between an old and a new master.
// The old master forks and execs the binary on disk, passing the listeners exactly as systemd
// would (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES, so there is one way in) plus a pipe named by
// CPPICORN_UPGRADE_FD on which the new master writes one byte once its workers serve.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/listener.h"
#include "util/unique_fd.h"

namespace cppicorn {

struct Invocation;

class Upgrade {
 public:
  // Old master: starts the new one. nullptr with *error when it cannot fork. in_child runs
  // in the forked child before exec (the pre_exec hook).
  static std::unique_ptr<Upgrade> start(const Invocation& invocation,
                                        const std::vector<net::Listener>& listeners,
                                        std::string* error,
                                        const std::function<void()>& in_child = {});

  // New master: the pipe to report readiness on (CPPICORN_UPGRADE_FD, then unset), or an
  // invalid fd when we were not started by USR2.
  static UniqueFd take_ready_pipe();
  // New master: tells the old one we serve.
  static void report_ready(UniqueFd& pipe);

  pid_t pid() const { return pid_; }
  int ready_fd() const { return ready_.get(); }

 private:
  Upgrade(pid_t pid, UniqueFd ready) : pid_(pid), ready_(std::move(ready)) {}
  pid_t pid_;
  UniqueFd ready_;  // read end: one byte = ready, EOF = the new master is gone
};

// The absolute path argv0 named when we started (re-resolved at exec, so a binary replaced
// on disk is the one that runs).
std::string resolve_executable(const std::string& argv0, const std::string& start_dir);

}  // namespace cppicorn
