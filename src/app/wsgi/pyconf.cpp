// The plugin's config half (app/pyconf_plugin.h): runs gunicorn.conf.py in the master's
// interpreter, keeps its hooks (a bit per defined hook, so the server's "is it defined?" costs
// no Python) and calls them with stand-ins for gunicorn's server and worker objects. Hooks
// take the GIL with PyGILState_Ensure, so they run from any thread: the master's (which holds
// it), a worker's loop or pool thread, or the worker's signal thread.
#include "app/wsgi/pyconf.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>

#include "app/asgi/asgi.h"

namespace cppicorn::wsgi {
namespace {

constexpr const char* kHookNames[] = {
    "on_starting",      "on_reload",  "when_ready",   "pre_fork",         "post_fork",
    "post_worker_init", "worker_int", "worker_abort", "pre_exec",         "pre_request",
    "post_request",     "child_exit", "worker_exit",  "nworkers_changed", "on_exit"};

PyObject* g_ns = nullptr;  // the helper module's dict, never released
uint32_t g_defined = 0;    // bit i: kHookNames[i] is defined
PyThreadState* g_released = nullptr;

int hook_index(const char* name) {
  for (size_t i = 0; i < std::size(kHookNames); ++i) {
    if (std::strcmp(kHookNames[i], name) == 0) return static_cast<int>(i);
  }
  return -1;
}

bool ensure_helper(std::string* error) {
  if (g_ns != nullptr) return true;
  Ref module(PyModule_New("cppicorn.conf"));
  PyObject* dict = module ? PyModule_GetDict(module.get()) : nullptr;
  if (dict == nullptr || PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) != 0) {
    *error = format_exception();
    return false;
  }
  Ref code(Py_CompileString(pyconf_source(), "<cppicorn.conf>", Py_file_input));
  Ref done(code ? PyEval_EvalCode(code.get(), dict, dict) : nullptr);
  if (!done) {
    *error = "the config runtime failed: " + format_exception();
    return false;
  }
  g_ns = Py_NewRef(dict);
  module.release();  // kept alive with its dict
  return true;
}

// One (name, line, kind, items, type) tuple of the helper's read() to a PythonValue.
bool to_value(PyObject* entry, config::PythonValue* v) {
  const char *name, *type;
  int line, kind;
  PyObject* items;
  if (!PyArg_ParseTuple(entry, "siiOs", &name, &line, &kind, &items, &type)) return false;
  v->name = name;
  v->line = line;
  v->kind = static_cast<config::PythonValue::Kind>(kind);
  v->type = type;
  for (Py_ssize_t i = 0; i < PyList_Size(items); ++i) {
    const char* item = PyUnicode_AsUTF8(PyList_GET_ITEM(items, i));
    if (item == nullptr) return false;
    v->items.emplace_back(item);
  }
  return true;
}

std::string read(const std::string& location, std::vector<config::PythonValue>* out) {
  std::string error;
  if (!start_interpreter(&error)) return location + ": " + error;
  PyGILState_STATE gil = PyGILState_Ensure();
  if (ensure_helper(&error)) {
    PyObject* fn = PyDict_GetItemString(g_ns, "read");  // borrowed
    Ref result(PyObject_CallFunction(fn, "s", location.c_str()));
    const char* message = nullptr;
    PyObject* entries = nullptr;
    if (!result || !PyArg_ParseTuple(result.get(), "sO", &message, &entries)) {
      error = location + ": " + format_exception();
    } else if (*message != '\0') {
      error = message;
    } else {
      g_defined = 0;
      for (Py_ssize_t i = 0; i < PyList_Size(entries); ++i) {
        config::PythonValue v;
        if (!to_value(PyList_GET_ITEM(entries, i), &v)) {
          error = location + ": " + format_exception();
          break;
        }
        if (v.kind == config::PythonValue::kHook) g_defined |= 1u << hook_index(v.name.c_str());
        out->push_back(std::move(v));
      }
    }
  }
  flush_std_streams();
  PyGILState_Release(gil);
  return error;
}

bool defined(const char* hook) {
  int i = hook_index(hook);
  return i >= 0 && (g_defined & (1u << i)) != 0;
}

PyObject* make_server(const app::HookServer& s, PyObject* cfg) {
  Ref workers(PyList_New(0));
  for (pid_t pid : s.workers) {
    Ref p(PyLong_FromLong(pid));
    if (!workers || !p || PyList_Append(workers.get(), p.get()) != 0) return nullptr;
  }
  PyObject* cls = PyDict_GetItemString(g_ns, "Server");  // borrowed
  return PyObject_CallFunction(cls, "iiOO", static_cast<int>(s.pid), s.num_workers, workers.get(),
                               cfg);
}

void call_locked(const char* hook, const app::HookArgs& a);

// The Refs call_locked makes are released before the GIL is.
void call(const char* hook, const app::HookArgs& a) {
  if (!defined(hook) || g_ns == nullptr) return;
  PyGILState_STATE gil = PyGILState_Ensure();
  call_locked(hook, a);
  PyGILState_Release(gil);
}

void call_locked(const char* hook, const app::HookArgs& a) {
  const config::Settings* settings = a.cfg ? a.cfg : a.server ? a.server->cfg : nullptr;
  static const config::Settings kDefaults;
  Ref cfg(make_cfg(settings ? *settings : kDefaults));
  Ref server(cfg && a.server ? make_server(*a.server, cfg.get()) : nullptr);
  Ref worker(cfg && a.worker ? make_worker(*a.worker, cfg.get()) : nullptr);
  if (!cfg || (a.server && !server) || (a.worker && !worker)) {
    spdlog::error("Cannot call the {} hook: {}", hook, format_exception());
  } else if (std::strcmp(hook, "nworkers_changed") == 0) {
    PyObject* old_value = a.old_value < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(a.old_value);
    call_hook(hook, Py_BuildValue("(OiN)", server.get(), a.new_value, old_value));
  } else if (a.server && a.worker) {
    call_hook(hook, PyTuple_Pack(2, server.get(), worker.get()));
  } else {
    call_hook(hook, PyTuple_Pack(1, a.server ? server.get() : worker.get()));
  }
}

void before_fork() {
  PyGILState_STATE gil = PyGILState_Ensure();
  flush_std_streams();
  PyGILState_Release(gil);
  PyOS_BeforeFork();
}

void after_fork_parent() { PyOS_AfterFork_Parent(); }

void after_fork_child() { interpreter_forked(); }

void release() {
  // A Python app's worker_start released it already (PyGILState_Check cannot tell after a
  // fork: it answers 1 while its checks are off).
  if (g_released == nullptr && _PyThreadState_UncheckedGet() != nullptr) {
    g_released = PyEval_SaveThread();
  }
}

app::App* wrap(app::App* inner, const app::HookWorker& worker, const config::Settings& cfg) {
  if (inner->has_loop()) {  // asgi: its glue runs them around each request
    asgi::set_request_hooks(worker, cfg);
    return inner;
  }
  return new_hooked_app(inner, worker, cfg);
}

const app::PyConfApi kApi = {
    .abi = app::kPyConfAbi,
    .version = CPPICORN_VERSION,
    .read = read,
    .defined = defined,
    .call = call,
    .before_fork = before_fork,
    .after_fork_parent = after_fork_parent,
    .after_fork_child = after_fork_child,
    .release = release,
    .wrap = wrap,
};

}  // namespace

PyObject* pyconf_namespace() { return g_ns; }

bool hook_defined(const char* hook) { return defined(hook); }

PyObject* make_cfg(const config::Settings& s) {
  Ref bind(PyList_New(0));
  for (const std::string& b : s.bind) {
    Ref item(PyUnicode_FromString(b.c_str()));
    if (!bind || !item || PyList_Append(bind.get(), item.get()) != 0) return nullptr;
  }
  const std::string& proc = s.proc_name.empty() ? s.app : s.proc_name;
  Ref effective(Py_BuildValue(
      "{s:O,s:i,s:i,s:d,s:d,s:d,s:i,s:i,s:i,s:s,s:s,s:s,s:O,s:s,s:s,s:s,s:s,s:s,s:O}", "bind",
      bind.get(), "workers", s.workers, "threads", s.threads, "timeout", s.timeout,
      "graceful_timeout", s.graceful_timeout, "keepalive", s.keepalive, "max_requests",
      s.max_requests, "max_requests_jitter", s.max_requests_jitter, "worker_connections",
      s.worker_connections, "worker_class", s.worker_class.c_str(), "proc_name", proc.c_str(),
      "wsgi_app", s.app.c_str(), "preload_app", s.preload ? Py_True : Py_False, "pidfile",
      s.pidfile.c_str(), "chdir", s.chdir.c_str(), "loglevel", s.log_level.c_str(), "errorlog",
      s.error_logfile.c_str(), "accesslog", s.access_logfile.c_str(), "reload",
      s.reload ? Py_True : Py_False));
  if (!effective) return nullptr;
  PyObject* cls = PyDict_GetItemString(g_ns, "Config");  // borrowed
  return PyObject_CallOneArg(cls, effective.get());
}

PyObject* make_worker(const app::HookWorker& w, PyObject* cfg) {
  PyObject* cls = PyDict_GetItemString(g_ns, "Worker");  // borrowed
  Ref pid(w.pid > 0 ? PyLong_FromLong(w.pid) : Py_NewRef(Py_None));
  Ref status(w.exit_status >= 0 ? PyLong_FromLong(w.exit_status) : Py_NewRef(Py_None));
  return PyObject_CallFunction(
      cls, "OiKOOOO", pid.get(), static_cast<int>(w.ppid), static_cast<unsigned long long>(w.age),
      w.booted ? Py_True : Py_False, w.aborted ? Py_True : Py_False, status.get(), cfg);
}

PyObject* asgi_request_hooks(const app::HookWorker& w, const config::Settings& s) {
  Ref cfg(make_cfg(s));
  Ref worker(cfg ? make_worker(w, cfg.get()) : nullptr);
  PyObject* fn = PyDict_GetItemString(g_ns, "asgi_hooks");  // borrowed
  return worker ? PyObject_CallOneArg(fn, worker.get()) : nullptr;
}

void call_hook(const char* name, PyObject* args) {
  Ref tuple(args);
  PyObject* fn = PyDict_GetItemString(g_ns, "call");  // borrowed
  Ref hook_name(PyUnicode_FromString(name));
  Ref full(tuple && hook_name
               ? PySequence_Concat(Ref(PyTuple_Pack(1, hook_name.get())).get(), tuple.get())
               : nullptr);
  Ref r(full ? PyObject_Call(fn, full.get(), nullptr) : nullptr);
  if (!r) spdlog::error("The {} hook failed: {}", name, format_exception());
}

}  // namespace cppicorn::wsgi

extern "C" __attribute__((visibility("default"))) const cppicorn::app::PyConfApi*
cppicorn_pyconf_api() {
  return &cppicorn::wsgi::kApi;
}
