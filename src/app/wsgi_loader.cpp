// The server side of the Python plugin: finds wsgi.so relative to the running executable,
// dlopens it with RTLD_GLOBAL and calls its WSGI factory (the config half: app/pyconf.cpp).
#include <dlfcn.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <vector>

#include "app/wsgi_plugin.h"

#ifndef CPPICORN_WSGI_PLUGIN_RELPATH
#define CPPICORN_WSGI_PLUGIN_RELPATH "../lib/cppicorn/wsgi.so"
#endif

namespace cppicorn::app {

void* open_python_plugin(std::string* error, std::string* tried) {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    *error = fmt::format("/proc/self/exe: {}", ec.message());
    return nullptr;
  }
  // Installed: <prefix>/<bindir>/cppicorn finds <prefix>/<libdir>/cppicorn/wsgi.so; in the
  // build tree the plugin sits next to the binary.
  const std::vector<std::filesystem::path> candidates = {
      (exe.parent_path() / CPPICORN_WSGI_PLUGIN_RELPATH).lexically_normal(),
      exe.parent_path() / "wsgi.so"};
  tried->clear();
  for (const auto& path : candidates) {
    if (!std::filesystem::exists(path, ec)) {
      *tried += (tried->empty() ? "" : ", ") + path.string();
      continue;
    }
    // RTLD_GLOBAL: Python's extension modules (_json, _ssl, markupsafe's speedups...) are not
    // linked against libpython and expect its symbols in the global scope, as in python3.
    // Loading it twice (a config file, then the app) returns the same handle.
    void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (dl == nullptr) *error = fmt::format("Python support: {}", dlerror());
    spdlog::debug("Python support from {}", path.string());
    return dl;  // never dlclosed, as native apps
  }
  error->clear();
  return nullptr;
}

std::unique_ptr<App> load_wsgi(const WsgiSpec& spec, std::string* error) {
  std::string tried;
  void* dl = open_python_plugin(error, &tried);
  if (dl != nullptr) {
    auto factory = reinterpret_cast<WsgiFactory>(dlsym(dl, kWsgiFactorySymbol));
    if (factory == nullptr) {
      *error = fmt::format("cannot load app '{}': wsgi.so is not a cppicorn WSGI plugin", spec.app);
      return nullptr;
    }
    spdlog::debug("Loading Python app {}", spec.app);
    return std::unique_ptr<App>(factory(&spec, error));
  }
  if (!error->empty()) {
    *error = fmt::format("cannot load app '{}': {}", spec.app, *error);
    return nullptr;
  }
  // The Debian package splits the plugin out (cppicorn-python3), so a native-only install
  // pulls in no Python: the admin who meets this needs the package's name, not a path.
  *error = fmt::format("cannot load app '{}': it is a Python module, but {}", spec.app,
                       missing_plugin(tried));
  return nullptr;
}

std::string missing_plugin(const std::string& tried) {
  return fmt::format(
      "Python support (wsgi.so) is not installed: apt install cppicorn-python3 (from a source "
      "build: configure with -DCPPICORN_WSGI=ON); tried {}",
      tried);
}

}  // namespace cppicorn::app
