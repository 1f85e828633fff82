// The contract between the server and the Python plugin's config half (wsgi.so, built from
// src/app/wsgi/pyconf*.cpp): a Python config file (gunicorn.conf.py) is run by the plugin,
// which the master loads only when such a file is in play, and the server hooks it defines
// are called through this table. Server and plugin are built together; kPyConfAbi and the
// version string catch a plugin from another build.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "app/app.h"
#include "config/settings.h"

namespace cppicorn::app {

// Bump when PyConfApi, HookServer or HookWorker change shape.
constexpr int kPyConfAbi = 1;

// What the Python stand-in for gunicorn's arbiter (`server`) carries.
struct HookServer {
  pid_t pid = 0;
  int num_workers = 0;                    // the wanted number of workers
  std::vector<pid_t> workers;             // live worker pids (server.WORKERS' keys)
  const config::Settings* cfg = nullptr;  // server.cfg's effective values
};

// What the stand-in for gunicorn's worker (`worker`) carries.
struct HookWorker {
  pid_t pid = 0;
  pid_t ppid = 0;    // the master
  uint64_t age = 0;  // spawn order
  bool booted = false;
  bool aborted = false;
  int exit_status = -1;  // child_exit: the wait status; -1 when not known
};

// One hook call: the server and worker in play (null where gunicorn passes none) and
// nworkers_changed's values.
struct HookArgs {
  const HookServer* server = nullptr;
  const HookWorker* worker = nullptr;
  int new_value = 0;
  int old_value = 0;                      // -1: None (the first call)
  const config::Settings* cfg = nullptr;  // cfg's values when no server is given
};

struct PyConfApi {
  int abi = kPyConfAbi;           // first, so any plugin can check it
  const char* version = nullptr;  // the plugin's CPPICORN_VERSION
  // Runs the config (FILE.py or python:MODULE) in this process's interpreter (started on
  // first use) and lists its names; keeps its hooks, replacing the previous file's. "" or the
  // error ("FILE:LINE: SyntaxError: ..." and the traceback).
  std::string (*read)(const std::string& location, std::vector<config::PythonValue>* out) = nullptr;
  // Whether the config defines this hook (a bit test, no Python).
  bool (*defined)(const char* hook) = nullptr;
  // Calls the hook if defined (holding the GIL meanwhile); an exception is logged with its
  // traceback and goes no further.
  void (*call)(const char* hook, const HookArgs& args) = nullptr;
  // Around fork() in a process whose interpreter runs: PyOS_BeforeFork, AfterFork_Parent,
  // AfterFork_Child.
  void (*before_fork)() = nullptr;
  void (*after_fork_parent)() = nullptr;
  void (*after_fork_child)() = nullptr;
  // In a worker once booted: drops the GIL if this thread still holds it (a native app), so
  // that hooks can run on any of the worker's threads.
  void (*release)() = nullptr;
  // pre_request/post_request around each call of `app` (only called when one is defined);
  // takes ownership of app.
  App* (*wrap)(App* app, const HookWorker& worker, const config::Settings& cfg) = nullptr;
};

// The plugin's entry point for the table above.
using PyConfEntry = const PyConfApi* (*)();
inline constexpr char kPyConfSymbol[] = "cppicorn_pyconf_api";

}  // namespace cppicorn::app
