// Native apps: module.so loaded with dlopen, its `const cppicorn_app` symbol checked for ABI
// version and size, then called through the C ABI. Without a module.so, a Python module
// (module.py or a package) is handed to the WSGI plugin (wsgi_loader.cpp).
#include <dlfcn.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <vector>

#include "app/app.h"
#include "app/host_api.h"
#include "app/wsgi_plugin.h"
#include "config/settings.h"

namespace cppicorn::app {
namespace {

// The smallest cppicorn_app an ABI-1 app can export: up to and including `handle`.
constexpr size_t kMinAppSize = offsetof(cppicorn_app, handle) + sizeof(cppicorn_app::handle);

class NativeApp final : public App {
 public:
  NativeApp(void* handle, const cppicorn_app* app, std::string path)
      : dl_(handle), app_(app), path_(std::move(path)) {}
  ~NativeApp() override = default;  // never dlclose: app code may still run atexit handlers

  bool worker_start(std::string* error) override {
    if (app_->worker_start == nullptr) return true;
    if (app_->worker_start(app_->context, host_api()) == 0) return true;
    *error = "the app's worker_start hook failed";
    return false;
  }
  void worker_stop() override {
    if (app_->worker_stop != nullptr) app_->worker_stop(app_->context);
  }
  bool handle(Exchange& x) override {
    return app_->handle(app_->context, host_api(), as_request(x), as_response(x)) == 0;
  }
  bool thread_safe() const override { return (flags() & CPPICORN_APP_THREAD_SAFE) != 0; }
  bool thread_start(int, std::string* error) override {
    if (!has(offsetof(cppicorn_app, thread_start), sizeof app_->thread_start) ||
        app_->thread_start == nullptr) {
      return true;
    }
    if (app_->thread_start(app_->context, host_api()) == 0) return true;
    *error = "the app's thread_start hook failed";
    return false;
  }
  void thread_stop() override {
    if (has(offsetof(cppicorn_app, thread_stop), sizeof app_->thread_stop) &&
        app_->thread_stop != nullptr) {
      app_->thread_stop(app_->context);
    }
  }
  std::vector<std::string> source_files() override { return {path_}; }

 private:
  // Whether the app's struct (built against some version of the header) has this member.
  bool has(size_t offset, size_t size) const { return app_->size >= offset + size; }
  uint32_t flags() const {
    return has(offsetof(cppicorn_app, flags), sizeof app_->flags) ? app_->flags : 0;
  }

  [[maybe_unused]] void* dl_;
  const cppicorn_app* app_;
  std::string path_;  // the module.so it came from
};

// Where module.so may be: an explicit path, app_path, then the current directory.
std::vector<std::filesystem::path> candidates(std::string_view module,
                                              const std::string& app_path) {
  std::vector<std::filesystem::path> out;
  std::string file(module);
  if (!file.ends_with(".so")) file += ".so";
  if (file.find('/') != std::string::npos) {
    out.emplace_back(file);
    return out;
  }
  if (!app_path.empty()) out.push_back(std::filesystem::path(app_path) / file);
  out.push_back(std::filesystem::current_path() / file);
  return out;
}

// A Python module named like "pkg.mod": the directory (app_path, then the current one)
// holding pkg.py or pkg/__init__.py, or "" when there is none.
std::string python_dir(std::string_view module, const std::string& app_path, std::string* tried) {
  if (module.find('/') != std::string::npos) return {};
  std::string top(module.substr(0, module.find('.')));
  std::vector<std::filesystem::path> dirs;
  if (!app_path.empty()) dirs.emplace_back(app_path);
  dirs.push_back(std::filesystem::current_path());
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (const auto& file : {dir / (top + ".py"), dir / top / "__init__.py"}) {
      if (std::filesystem::exists(file, ec)) return dir.string();
      *tried += ", " + file.string();
    }
  }
  return {};
}

std::unique_ptr<App> load_python(const config::Settings& settings, std::string_view module,
                                 const std::string& symbol, const std::string& dir,
                                 std::string* error) {
  WsgiSpec spec;
  spec.version = CPPICORN_VERSION;
  spec.app = settings.app;
  spec.module = module;
  spec.callable = symbol;
  spec.threads = settings.threads;
  // --pythonpath first, as gunicorn inserts it; then where the module is, as gunicorn puts
  // its working directory there.
  spec.sys_path = settings.pythonpath;
  spec.sys_path.push_back(dir);
  spec.root_path = settings.root_path;
  spec.asgi = config::uses_asgi(settings);
  spec.asgi_loop = settings.asgi_loop;
  spec.asgi_lifespan = settings.asgi_lifespan;
  spec.asgi_disconnect_grace_period = settings.asgi_disconnect_grace_period;
  std::string cwd = std::filesystem::current_path().string();
  if (cwd != dir) spec.sys_path.push_back(cwd);
  return load_wsgi(spec, error);
}

}  // namespace

std::unique_ptr<App> load(const config::Settings& settings, std::string* error) {
  const std::string& spec = settings.app;
  if (spec.empty()) {
    *error = "no application given (cppicorn [OPTIONS] MODULE:SYMBOL)";
    return nullptr;
  }
  // The first colon, as gunicorn splits: a factory's arguments may hold colons.
  size_t colon = spec.find(':');
  std::string_view module = std::string_view(spec).substr(0, colon);
  std::string symbol = colon == std::string::npos ? "app" : spec.substr(colon + 1);
  if (module.empty() || symbol.empty()) {
    *error = fmt::format("cannot load app '{}': expected MODULE:SYMBOL", spec);
    return nullptr;
  }
  std::vector<std::filesystem::path> paths = candidates(module, settings.app_path);
  std::string tried;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path.string();
      continue;
    }
    void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (dl == nullptr) {
      *error = fmt::format("cannot load app '{}': {}", spec, dlerror());
      return nullptr;
    }
    auto* app = static_cast<const cppicorn_app*>(dlsym(dl, symbol.c_str()));
    if (app == nullptr) {
      *error =
          fmt::format("cannot load app '{}': no symbol '{}' in {}", spec, symbol, path.string());
      return nullptr;
    }
    if (app->abi_version != CPPICORN_ABI_VERSION || app->size < kMinAppSize ||
        app->handle == nullptr) {
      *error = fmt::format(
          "cannot load app '{}': ABI mismatch in {} (app: version {} size {}; server: version "
          "{} size {}); rebuild it against this cppicorn's <cppicorn/app.h>",
          spec, path.string(), app->abi_version, app->size, CPPICORN_ABI_VERSION,
          sizeof(cppicorn_app));
      return nullptr;
    }
    spdlog::debug("Loaded app {} from {}", spec, path.string());
    return std::make_unique<NativeApp>(dl, app, path.string());
  }
  if (std::string dir = python_dir(module, settings.app_path, &tried); !dir.empty()) {
    // A bare Python module is its `application`, gunicorn's default (Django's wsgi.py).
    return load_python(settings, module, colon == std::string::npos ? "application" : symbol, dir,
                       error);
  }
  *error = fmt::format("cannot load app '{}': module not found (tried {})", spec, tried);
  return nullptr;
}

}  // namespace cppicorn::app
