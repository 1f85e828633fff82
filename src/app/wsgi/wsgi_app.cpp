// WsgiApp: a Python WSGI application (PEP 3333) on embedded CPython, and the plugin's
// factory. The interpreter starts where the app is loaded (the worker, or the master with
// --preload; the worker then runs PyOS_AfterFork_Child). A thread holds the GIL while it
// serves a request and releases it between requests, so threads the app starts still run
// while the worker waits. With --threads, each pool thread has its own PyThreadState (made
// in thread_start, named for threading.current_thread()) and drops the GIL around reads
// of the body and streamed writes; buffered bodies and files are written by the loop thread,
// which never touches Python.
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "app/asgi/asgi.h"
#include "app/wsgi/wsgi.h"
#include "app/wsgi_plugin.h"

namespace cppicorn::wsgi {
namespace {

// A fully built list or tuple cannot block: up to this many bytes of it go out in one
// buffered response with a Content-Length; anything else is streamed as it comes.
constexpr size_t kBufferLimit = 1 << 20;

pid_t g_init_pid = 0;
// The calling thread's Python thread state while it does not hold the GIL: the loop thread's
// (sync) or a pool thread's (gthread).
thread_local PyThreadState* t_idle = nullptr;
thread_local PyGILState_STATE t_gil_state;

}  // namespace

bool start_interpreter(std::string* error) {
  if (Py_IsInitialized()) return true;
  if (PyImport_AppendInittab("_cppicorn", init_runtime_module) != 0 ||
      PyImport_AppendInittab("_cppicorn_asgi", asgi::init_module) != 0) {
    *error = "cannot register the _cppicorn module";
    return false;
  }
  PyConfig config;
  PyConfig_InitPythonConfig(&config);  // as python3: PYTHONPATH and the like still apply
  config.install_signal_handlers = 0;  // signals are the server's
  config.parse_argv = 0;
  // The interpreter the headers came from: its prefix finds the standard library and
  // sys.executable is a real Python (for multiprocessing and subprocess), never whatever
  // "python3" comes first in PATH.
  PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, CPPICORN_PYTHON_PROGRAM);
  char arg0[] = "cppicorn";
  char* argv[] = {arg0};
  if (!PyStatus_Exception(status)) status = PyConfig_SetBytesArgv(&config, 1, argv);
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    *error = fmt::format("Python failed to start: {}{}{}", status.func ? status.func : "",
                         status.func ? ": " : "", status.err_msg ? status.err_msg : "");
    return false;
  }
  g_init_pid = getpid();
  return true;
}

void interpreter_forked() {
  PyOS_AfterFork_Child();
  g_init_pid = getpid();  // done: the app's worker_start must not run it again
}

void flush_std_streams() {
  for (const char* name : {"stdout", "stderr"}) {
    PyObject* stream = PySys_GetObject(name);  // borrowed
    if (stream == nullptr || stream == Py_None) continue;
    Ref r(PyObject_CallMethod(stream, "flush", nullptr));
    if (!r) PyErr_Clear();
  }
}

namespace {

// The part after the colon, as gunicorn reads it: a name, or a call of a name with literal
// arguments ('create_app(greeting="hi")', ast.literal_eval semantics). parse() returns
// (name, args, kwargs), args None when nothing is to be called; ValueError says what is wrong.
constexpr char kParseCallable[] = R"PY(
import ast

def parse(expr):
    try:
        node = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"cannot parse {expr!r} as a name or a call of one") from None
    if isinstance(node, ast.Name):
        return node.id, None, None
    if not isinstance(node, ast.Call):
        raise ValueError(f"cannot parse {expr!r} as a name or a call of one")
    if not isinstance(node.func, ast.Name):
        raise ValueError(f"the factory in {expr!r} must be a simple name")
    if any(k.arg is None for k in node.keywords):
        raise ValueError(f"arguments must be literals in {expr!r}")
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except ValueError:
        raise ValueError(f"arguments must be literals in {expr!r}") from None
    return node.func.id, args, kwargs
)PY";

// The Python exception's message alone (no traceback), cleared.
std::string exception_message() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  Ref t(type), v(value), b(tb);
  Ref text(v ? PyObject_Str(v.get()) : nullptr);
  const char* s = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
  std::string out = s ? s : "unknown error";
  PyErr_Clear();
  return out;
}

// (name, args, kwargs) from kParseCallable's parse(); nullptr with *error.
Ref parse_callable(const app::WsgiSpec& spec, std::string* error) {
  Ref globals(PyDict_New());
  if (!globals || PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins()) != 0) {
    *error = fmt::format("cannot load app '{}': {}", spec.app, format_exception());
    return {};
  }
  Ref code(Py_CompileString(kParseCallable, "<cppicorn.import>", Py_file_input));
  Ref done(code ? PyEval_EvalCode(code.get(), globals.get(), globals.get()) : nullptr);
  PyObject* parse = done ? PyDict_GetItemString(globals.get(), "parse") : nullptr;  // borrowed
  Ref expr(parse ? PyUnicode_FromString(spec.callable.c_str()) : nullptr);
  Ref parsed(expr ? PyObject_CallOneArg(parse, expr.get()) : nullptr);
  if (!parsed) {
    *error = fmt::format("cannot load app '{}': {}", spec.app, exception_message());
    return {};
  }
  return parsed;
}

// "module:name", "module:factory(literal args)" (as Flask's create_app) or "module" (its
// `application`, as gunicorn and Django's wsgi.py) to the app object.
PyObject* import_app(const app::WsgiSpec& spec, std::string* error) {
  PyObject* path = PySys_GetObject("path");  // borrowed
  for (auto dir = spec.sys_path.rbegin(); path != nullptr && dir != spec.sys_path.rend(); ++dir) {
    Ref entry(PyUnicode_DecodeFSDefault(dir->c_str()));
    if (!entry || PyList_Insert(path, 0, entry.get()) != 0) PyErr_Clear();
  }
  Ref parsed = parse_callable(spec, error);
  if (!parsed) return nullptr;
  const char* name_utf8 = PyUnicode_AsUTF8(PyTuple_GET_ITEM(parsed.get(), 0));
  if (name_utf8 == nullptr) {
    *error = fmt::format("cannot load app '{}': {}", spec.app, exception_message());
    return nullptr;
  }
  const std::string name = name_utf8;
  PyObject* args = PyTuple_GET_ITEM(parsed.get(), 1);    // borrowed
  PyObject* kwargs = PyTuple_GET_ITEM(parsed.get(), 2);  // borrowed
  Ref module(PyImport_ImportModule(spec.module.c_str()));
  if (!module) {
    *error = fmt::format("cannot load app '{}': importing {} failed:\n{}", spec.app, spec.module,
                         format_exception());
    return nullptr;
  }
  Ref app(PyObject_GetAttrString(module.get(), name.c_str()));
  if (!app) {
    PyErr_Clear();
    Ref file(PyObject_GetAttrString(module.get(), "__file__"));
    const char* where = file && PyUnicode_Check(file.get()) ? PyUnicode_AsUTF8(file.get()) : "";
    PyErr_Clear();
    *error = fmt::format("cannot load app '{}': no '{}' in module {} ({})", spec.app, name,
                         spec.module, where ? where : "");
    return nullptr;
  }
  if (args != Py_None) {
    app = Ref(PyObject_Call(app.get(), args, kwargs));
    if (!app) {
      *error =
          fmt::format("cannot load app '{}': {}() failed:\n{}", spec.app, name, format_exception());
      return nullptr;
    }
  }
  if (!PyCallable_Check(app.get())) {
    *error = fmt::format("cannot load app '{}': '{}' is a {}, not a {} callable", spec.app,
                         spec.callable, Py_TYPE(app.get())->tp_name, spec.asgi ? "ASGI" : "WSGI");
    return nullptr;
  }
  return app.release();
}

}  // namespace

void interpreter_worker_start() {
  if (getpid() != g_init_pid) PyOS_AfterFork_Child();  // loaded in the master (--preload)
  t_idle = PyEval_SaveThread();
}

void interpreter_worker_stop() {
  PyEval_RestoreThread(t_idle);
  flush_std_streams();
  if (PyObject* errors = errors_stream(); errors != nullptr) {
    Ref r(PyObject_CallMethod(errors, "flush", nullptr));
    if (!r) PyErr_Clear();
  }
  Py_FinalizeEx();  // runs the app's atexit handlers, as a Python process would
}

namespace {

// An ASGI app: a coroutine function, or an object whose __call__ is one (FastAPI,
// Starlette, Django's ASGIHandler). False with no error set when it cannot tell.
bool looks_async(PyObject* app) {
  Ref inspect(PyImport_ImportModule("inspect"));
  if (!inspect) {
    PyErr_Clear();
    return false;
  }
  for (PyObject* candidate : {app, static_cast<PyObject*>(nullptr)}) {
    Ref target = candidate != nullptr ? Ref::borrow(candidate)
                                      : Ref(PyObject_GetAttrString(app, "__call__"));
    if (!target) {
      PyErr_Clear();
      continue;
    }
    Ref r(PyObject_CallMethod(inspect.get(), "iscoroutinefunction", "O", target.get()));
    if (r && PyObject_IsTrue(r.get()) == 1) return true;
    PyErr_Clear();
  }
  return false;
}

class WsgiApp final : public app::App {
 public:
  explicit WsgiApp(PyObject* app) : app_(app) {}
  // The app object is never released: the interpreter may be gone by then.
  ~WsgiApp() override = default;

  bool worker_start(std::string*) override {
    interpreter_worker_start();
    return true;
  }

  // The worker joins every pool thread (thread_stop) before this.
  void worker_stop() override { interpreter_worker_stop(); }

  // WSGI apps are called from several threads by servers that say so (wsgi.multithread),
  // as gunicorn's gthread and uWSGI do.
  bool thread_safe() const override { return true; }

  bool thread_start(int index, std::string* error) override {
    t_gil_state = PyGILState_Ensure();  // a new thread state for this thread, with the GIL
    // threading.current_thread() would say "Dummy-N": give each pool thread a real name.
    Ref threading(PyImport_ImportModule("threading"));
    Ref thread(threading ? PyObject_CallMethod(threading.get(), "current_thread", nullptr)
                         : nullptr);
    Ref name(PyUnicode_FromFormat("cppicorn-thread-%d", index + 1));
    if (!thread || !name || PyObject_SetAttrString(thread.get(), "name", name.get()) != 0) {
      *error = "cannot name a Python thread: " + format_exception();
      PyGILState_Release(t_gil_state);
      return false;
    }
    t_idle = PyEval_SaveThread();
    return true;
  }

  void thread_stop() override {
    PyEval_RestoreThread(t_idle);
    t_idle = nullptr;
    PyGILState_Release(t_gil_state);  // deletes the thread state Ensure made
  }

  // Every module's __file__ (the app's own and what it imported, the standard library
  // included, as gunicorn's reloader watches sys.modules); modules imported later are not.
  std::vector<std::string> source_files() override {
    PyEval_RestoreThread(t_idle);
    std::vector<std::string> files;
    {  // the references go before the GIL does
      Ref modules(PyDict_Values(PyImport_GetModuleDict()));  // a copy: imports may run meanwhile
      for (Py_ssize_t i = 0; modules && i < PyList_GET_SIZE(modules.get()); ++i) {
        Ref file(PyObject_GetAttrString(PyList_GET_ITEM(modules.get(), i), "__file__"));
        const char* path =
            file && PyUnicode_Check(file.get()) ? PyUnicode_AsUTF8(file.get()) : nullptr;
        if (path != nullptr) {
          files.emplace_back(path);
        } else {
          PyErr_Clear();  // a built-in module has no __file__; a namespace package has None
        }
      }
      if (!modules) PyErr_Clear();
    }
    t_idle = PyEval_SaveThread();
    return files;
  }

  bool handle(app::Exchange& x) override {
    PyEval_RestoreThread(t_idle);
    Current& c = current();
    c.x = &x;
    c.serial = ++serial_;
    c.started = c.sent = false;
    c.status = 200;
    c.reason.clear();
    c.headers.clear();
    bool ok = serve(x);
    c.x = nullptr;
    t_idle = PyEval_SaveThread();
    return ok;
  }

 private:
  bool serve(app::Exchange& x) {
    Ref environ(make_environ(x));
    if (!environ) return fail(x);
    PyObject* args[] = {environ.get(), start_response_fn()};
    Ref result(PyObject_Vectorcall(app_, args, 2, nullptr));
    if (!result) return fail(x);
    bool ok = send(x, result.get());
    return close(x, result.get()) && ok;
  }

  // Logs the pending exception with the request; the worker answers 500 if nothing was
  // sent yet, or else closes the connection.
  bool fail(app::Exchange& x) {
    const http::Request& r = x.request();
    spdlog::error("Error handling request {} {}:\n{}", r.method, r.target, format_exception());
    return false;
  }

  bool send(app::Exchange& x, PyObject* result) {
    Current& c = current();
    if (Py_IS_TYPE(result, reinterpret_cast<PyTypeObject*>(file_wrapper_type())) && !c.sent &&
        c.started && send_file(x, result)) {
      return true;
    }
    bool buffering =
        !c.sent && (PyList_CheckExact(result) || PyTuple_CheckExact(result) ||
                    Py_IS_TYPE(result, &PyListIter_Type) || Py_IS_TYPE(result, &PyTupleIter_Type));
    std::vector<Ref> held;
    size_t total = 0;
    Ref it(PyObject_GetIter(result));
    if (!it) return fail(x);
    for (;;) {
      Ref item(PyIter_Next(it.get()));
      if (!item) {
        if (PyErr_Occurred()) return fail(x);
        break;
      }
      if (!PyBytes_Check(item.get())) {
        PyErr_Format(PyExc_TypeError, "the app's body items must be bytes, not %.100s",
                     Py_TYPE(item.get())->tp_name);
        return fail(x);
      }
      const size_t n = static_cast<size_t>(PyBytes_GET_SIZE(item.get()));
      if (n == 0) continue;
      if (!c.started) {
        PyErr_SetString(PyExc_RuntimeError, "the app gave body bytes before start_response()");
        return fail(x);
      }
      if (buffering) {
        total += n;
        held.push_back(std::move(item));
        if (total <= kBufferLimit) continue;
        buffering = false;  // too big to hold: stream what was kept, then the rest
        commit();
        for (const Ref& h : held) {
          if (!stream(x, h.get())) return false;
        }
        held.clear();
        continue;
      }
      commit();
      if (!stream(x, item.get())) return false;
    }
    if (!c.started) {
      PyErr_SetString(PyExc_RuntimeError, "the app did not call start_response()");
      return fail(x);
    }
    commit();
    for (const Ref& h : held) {
      x.write(PyBytes_AS_STRING(h.get()), static_cast<size_t>(PyBytes_GET_SIZE(h.get())));
    }
    return true;
  }

  static bool stream(app::Exchange& x, PyObject* bytes) {
    if (stream_bytes(x, bytes) == 0) return true;
    spdlog::debug("Client gone while sending the response to {} {}", x.request().method,
                  x.request().target);
    return false;
  }

  // wsgi.file_wrapper around a regular file: sendfile() from where the file is positioned.
  bool send_file(app::Exchange& x, PyObject* wrapper) {
    Ref filelike(PyObject_GetAttrString(wrapper, "filelike"));
    Ref fileno(filelike ? PyObject_CallMethod(filelike.get(), "fileno", nullptr) : nullptr);
    int fd = fileno ? static_cast<int>(PyLong_AsLong(fileno.get())) : -1;
    if (PyErr_Occurred()) PyErr_Clear();
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    Ref tell(PyObject_CallMethod(filelike.get(), "tell", nullptr));
    int64_t offset = tell ? PyLong_AsLongLong(tell.get()) : lseek(fd, 0, SEEK_CUR);
    if (PyErr_Occurred()) {
      PyErr_Clear();
      offset = lseek(fd, 0, SEEK_CUR);
    }
    if (offset < 0) return false;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);  // the app closes its file object right after
    if (own < 0) return false;
    commit();
    return x.send_file(own, offset, std::max<int64_t>(st.st_size - offset, 0)) == 0;
  }

  // The result's close(), always called (PEP 3333).
  bool close(app::Exchange& x, PyObject* result) {
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result) ||
        Py_IS_TYPE(result, &PyListIter_Type) || Py_IS_TYPE(result, &PyTupleIter_Type)) {
      return true;
    }
    Ref close(PyObject_GetAttrString(result, "close"));
    if (!close) {
      if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return fail(x);
      PyErr_Clear();
      return true;
    }
    Ref r(PyObject_CallNoArgs(close.get()));
    return r ? true : fail(x);
  }

  PyObject* app_;
  uint64_t serial_ = 0;  // under the GIL
};

}  // namespace
}  // namespace cppicorn::wsgi

extern "C" __attribute__((visibility("default"))) cppicorn::app::App* cppicorn_wsgi_create(
    const cppicorn::app::WsgiSpec* spec, std::string* error) {
  using namespace cppicorn::wsgi;
  if (spec->abi != cppicorn::app::kWsgiAbi || std::strcmp(spec->version, CPPICORN_VERSION) != 0) {
    *error = fmt::format("cannot load app: wsgi.so is from cppicorn {}, the server is {}",
                         CPPICORN_VERSION,
                         spec->abi == cppicorn::app::kWsgiAbi ? spec->version : "of another ABI");
    return nullptr;
  }
  if (!start_interpreter(error)) return nullptr;
  if (spec->asgi && !cppicorn::asgi::load_runtime()) {
    *error = fmt::format("cannot load app '{}': the ASGI runtime failed:\n{}", spec->app,
                         format_exception());
    return nullptr;
  }
  set_multithread(spec->threads > 1);
  if (!load_runtime() || !init_environ(spec->threads > 1, spec->root_path)) {
    *error = fmt::format("cannot load app '{}': the WSGI runtime failed:\n{}", spec->app,
                         format_exception());
    return nullptr;
  }
  PyObject* app = import_app(*spec, error);
  flush_std_streams();  // before any fork, so buffered output is not written twice
  if (app == nullptr) return nullptr;
  spdlog::debug("Loaded Python app {}", spec->app);
  if (spec->asgi) return cppicorn::asgi::new_app(app, *spec);
  if (looks_async(app)) {
    *error = fmt::format(
        "cannot load app '{}': it is an ASGI app (its call is a coroutine); run it with -k asgi "
        "(worker_class: asgi)",
        spec->app);
    return nullptr;
  }
  return new WsgiApp(app);
}
