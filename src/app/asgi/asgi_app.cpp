// AsgiApp: an ASGI 3 application as the worker's App. Its calls never go through handle():
// the worker runs run_loop() on a thread of its own, which takes the GIL for good and runs
// the Python glue's serve() (asgi_glue.cpp): an asyncio (or uvloop) loop that watches the
// worker's eventfd, runs lifespan startup before the worker accepts and shutdown after it
// drained, and runs each request as a task. The worker's loop thread never takes the GIL.
// The config's pre_request/post_request run in the glue, around each HTTP request.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/asgi/asgi.h"
#include "app/wsgi/pyconf.h"

namespace cppicorn::asgi {
namespace {

// pre_request/post_request: set by the plugin's wrap() when the config defines one.
app::HookWorker g_hook_worker;
const config::Settings* g_hook_cfg = nullptr;

class AsgiApp final : public app::App {
 public:
  AsgiApp(PyObject* app, const app::WsgiSpec& spec)
      : app_(app),
        lifespan_(spec.asgi_lifespan),
        loop_(spec.asgi_loop),
        grace_(spec.asgi_disconnect_grace_period) {}
  // The app object is never released: the interpreter may be gone by then.
  ~AsgiApp() override = default;

  bool worker_start(std::string*) override {
    wsgi::interpreter_worker_start();
    return true;
  }
  // The worker joined the loop's thread before this.
  void worker_stop() override { wsgi::interpreter_worker_stop(); }

  bool handle(app::Exchange&) override { return false; }  // calls go through run_loop
  bool thread_safe() const override { return false; }
  bool thread_start(int, std::string*) override { return true; }
  void thread_stop() override {}
  bool has_loop() const override { return true; }

  void run_loop(app::CallQueue& queue) override {
    PyGILState_STATE gil = PyGILState_Ensure();  // this thread's state; held while it runs
    set_queue(&queue);
    call_serve(queue);  // (its references are released before the GIL is)
    set_queue(nullptr);
    PyGILState_Release(gil);
  }

 private:
  void call_serve(app::CallQueue& queue) {
    Ref fd(PyLong_FromLong(queue.wake_fd()));
    Ref lifespan(PyUnicode_FromString(lifespan_.c_str()));
    Ref loop(PyUnicode_FromString(loop_.c_str()));
    Ref grace(PyFloat_FromDouble(grace_));
    Ref hooks(g_hook_cfg != nullptr ? wsgi::asgi_request_hooks(g_hook_worker, *g_hook_cfg)
                                    : Py_NewRef(Py_None));
    Ref r;
    if (fd && lifespan && loop && grace && hooks) {
      PyObject* args[] = {app_, fd.get(), lifespan.get(), loop.get(), grace.get(), hooks.get()};
      r = Ref(PyObject_Vectorcall(serve_fn(), args, 6, nullptr));
    }
    if (!r) {
      std::string error = wsgi::format_exception();
      spdlog::error("The ASGI event loop failed: {}", error);
      queue.started(false, error);  // if it had not served yet: the worker exits 4
    }
  }

  PyObject* app_;
  std::string lifespan_;
  std::string loop_;
  double grace_;  // asgi_disconnect_grace_period
};

}  // namespace

void set_request_hooks(const app::HookWorker& worker, const config::Settings& cfg) {
  g_hook_worker = worker;
  g_hook_cfg = &cfg;
}

app::App* new_app(PyObject* app, const app::WsgiSpec& spec) {
  set_root_path(spec.root_path);
  return new AsgiApp(app, spec);
}

}  // namespace cppicorn::asgi
