// The server side of Python config files and their server hooks: reads gunicorn.conf.py
// through the Python plugin (loaded by the master only when such a file is in play) and
// calls the hooks it defines. Every call is a no-op costing one test when no Python config
// was read in this process, so native apps with a YAML config never see libpython.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/app.h"
#include "app/pyconf_plugin.h"
#include "config/settings.h"

namespace cppicorn::app::pyconf {

// config::PythonConfigReader: loads the plugin on first use and runs the file.
std::string read_config(const std::string& location, std::vector<config::PythonValue>* out);

// A Python config was read in this process (or, after fork, its master): hooks may be defined
// and the interpreter runs.
bool active();
// Whether `hook` is defined (false when !active()).
bool defined(const char* hook);
// Calls `hook` when defined; an exception it raises is logged with its traceback.
void call(const char* hook, const HookArgs& args);

// Around fork() when active(): the interpreter's own fork handling.
void before_fork();
void after_fork_parent();
void after_fork_child();
// In a worker once its app started: let any thread take the GIL (for pre_request & co).
void release();
// `app` wrapped to call pre_request/post_request when either is defined, else `app` itself
// (an ASGI app is returned as is: its loop runs them around each request).
std::unique_ptr<App> wrap(std::unique_ptr<App> app, const HookWorker& worker,
                          const config::Settings& cfg);

}  // namespace cppicorn::app::pyconf
