// The server side of Python config files (app/pyconf.h): the plugin's PyConfApi table, found
// in wsgi.so on the first .py config, and thin wrappers that do nothing until then.
#include "app/pyconf.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstring>

#include "app/wsgi_plugin.h"

namespace cppicorn::app::pyconf {
namespace {

const PyConfApi* g_api = nullptr;

}  // namespace

std::string read_config(const std::string& location, std::vector<config::PythonValue>* out) {
  if (g_api == nullptr) {
    std::string error, tried;
    void* dl = open_python_plugin(&error, &tried);
    if (dl == nullptr) {
      if (error.empty()) {
        return fmt::format("{}: it is a Python config file, but {}", location,
                           missing_plugin(tried));
      }
      return fmt::format("{}: {}", location, error);
    }
    auto entry = reinterpret_cast<PyConfEntry>(dlsym(dl, kPyConfSymbol));
    const PyConfApi* api = entry != nullptr ? entry() : nullptr;
    if (api == nullptr || api->abi != kPyConfAbi ||
        std::strcmp(api->version, CPPICORN_VERSION) != 0) {
      return fmt::format("{}: wsgi.so is not this cppicorn's Python plugin ({})", location,
                         CPPICORN_VERSION);
    }
    g_api = api;
  }
  return g_api->read(location, out);
}

bool active() { return g_api != nullptr; }

bool defined(const char* hook) { return g_api != nullptr && g_api->defined(hook); }

void call(const char* hook, const HookArgs& args) {
  if (g_api != nullptr && g_api->defined(hook)) g_api->call(hook, args);
}

void before_fork() {
  if (g_api != nullptr) g_api->before_fork();
}

void after_fork_parent() {
  if (g_api != nullptr) g_api->after_fork_parent();
}

void after_fork_child() {
  if (g_api != nullptr) g_api->after_fork_child();
}

void release() {
  if (g_api != nullptr) g_api->release();
}

std::unique_ptr<App> wrap(std::unique_ptr<App> app, const HookWorker& worker,
                          const config::Settings& cfg) {
  if (g_api == nullptr || (!g_api->defined("pre_request") && !g_api->defined("post_request"))) {
    return app;
  }
  return std::unique_ptr<App>(g_api->wrap(app.release(), worker, cfg));
}

}  // namespace cppicorn::app::pyconf
