// The contract between the server and its WSGI plugin (wsgi.so, built from src/app/wsgi/):
// app::load() dlopens the plugin only for Python apps, so native-only servers never load
// libpython, and calls its one factory with a WsgiSpec. Server and plugin are built together;
// kWsgiAbi and the version string catch a plugin from another build.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/app.h"

namespace cppicorn::app {

// Bump when WsgiSpec, App or Exchange change shape.
constexpr int kWsgiAbi = 4;

// What the plugin needs to load a Python app.
struct WsgiSpec {
  int abi = kWsgiAbi;                  // first, so any plugin can check it
  const char* version = nullptr;       // the server's CPPICORN_VERSION
  std::string app;                     // "myapp:app", for messages
  std::string module;                  // "myapp" or "package.module"
  std::string callable;                // "app", or 'create_app(x="y")' for a factory to call
  std::vector<std::string> sys_path;   // prepended to sys.path, in this order
  int threads = 1;                     // calls in flight per worker (wsgi.multithread)
  std::string root_path;               // SCRIPT_NAME (--root-path); empty: $SCRIPT_NAME
  bool asgi = false;                   // -k asgi: an ASGI 3 app on an asyncio loop
  std::string asgi_loop = "auto";      // auto, asyncio or uvloop
  std::string asgi_lifespan = "auto";  // auto, on or off
  // Seconds from a client leaving to its request's task being cancelled.
  double asgi_disconnect_grace_period = 3;
};

// The plugin's factory: initialises CPython (once per process), imports the module and
// returns the app, or nullptr with *error (the message and the Python traceback).
using WsgiFactory = App* (*)(const WsgiSpec* spec, std::string* error);
inline constexpr char kWsgiFactorySymbol[] = "cppicorn_wsgi_create";

// Loads wsgi.so (found next to the executable: <bindir>/../<libdir>/cppicorn/wsgi.so when
// installed, <build>/wsgi.so in the build tree) and calls its factory.
std::unique_ptr<App> load_wsgi(const WsgiSpec& spec, std::string* error);
// dlopens the plugin (once; later calls return the same handle). nullptr: with *error when
// it failed to load, else with *error empty when it is not installed (*tried: where looked).
void* open_python_plugin(std::string* error, std::string* tried);
// "Python support (wsgi.so) is not installed: apt install cppicorn-python3 ...".
std::string missing_plugin(const std::string& tried);

}  // namespace cppicorn::app
