// The master's server hooks from a Python config file (app/pyconf.h), at gunicorn's points:
// on_starting (main), when_ready, on_reload, pre_fork, post_fork (in the child), child_exit,
// nworkers_changed, pre_exec (in the USR2 child) and on_exit. Each costs one test when the
// config defines no such hook.
#include <unistd.h>

#include "app/pyconf.h"
#include "arbiter/arbiter.h"

namespace cppicorn {

app::HookServer Arbiter::hook_server() const {
  app::HookServer server;
  server.pid = master_pid_ != 0 ? master_pid_ : getpid();
  server.num_workers = wanted_;
  for (const auto& [p, record] : workers_) server.workers.push_back(p);
  server.cfg = &settings_;
  return server;
}

void Arbiter::hook(const char* name, pid_t pid, const WorkerRecord* w, int status) {
  if (!app::pyconf::defined(name)) return;
  app::HookServer server = hook_server();
  app::HookWorker worker;
  if (w != nullptr) {
    worker.pid = pid;
    worker.ppid = server.pid;
    worker.age = w->age;
    worker.booted = w->booted;
    worker.aborted = w->aborted;
    worker.exit_status = status;
  }
  app::pyconf::call(name,
                    app::HookArgs{.server = &server, .worker = w != nullptr ? &worker : nullptr});
}

void Arbiter::set_wanted(int n) {
  int old = wanted_known_ ? wanted_ : -1;
  wanted_ = n;
  wanted_known_ = true;
  if (old == n || !app::pyconf::defined("nworkers_changed")) return;
  app::HookServer server = hook_server();
  app::pyconf::call("nworkers_changed",
                    app::HookArgs{.server = &server, .new_value = n, .old_value = old});
}

}  // namespace cppicorn
