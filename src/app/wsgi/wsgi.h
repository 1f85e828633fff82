// Internals of the WSGI plugin (PEP 3333 on embedded CPython), shared by its files:
//   wsgi_app.cpp  interpreter start, app import, WsgiApp (calls the app, sends its result)
//   environ.cpp   the environ dict of one request
//   runtime.cpp   the _cppicorn module: start_response, write, body reads, log lines;
//                 wsgi.input, wsgi.errors and wsgi.file_wrapper written in Python on top
// One request at a time per thread: the request a thread serves is its own (thread_local)
// Current; with threads, the GIL is dropped around blocking reads and writes (multithread()).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/app.h"

namespace cppicorn::wsgi {

// An owned reference to a Python object (nullptr allowed).
class Ref {
 public:
  Ref() = default;
  explicit Ref(PyObject* owned) : p_(owned) {}  // steals the reference
  static Ref borrow(PyObject* p) { return Ref(Py_XNewRef(p)); }
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Ref& operator=(Ref&& o) noexcept {
    Py_XSETREF(p_, std::exchange(o.p_, nullptr));
    return *this;
  }
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
  ~Ref() { Py_XDECREF(p_); }
  PyObject* get() const { return p_; }
  PyObject* release() { return std::exchange(p_, nullptr); }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  PyObject* p_ = nullptr;
};

// A single-phase extension module's definition (no state, no slots): the plugin's modules.
inline PyModuleDef module_def(const char* name, const char* doc, PyMethodDef* methods) {
  return {PyModuleDef_HEAD_INIT, name, doc, -1, methods, nullptr, nullptr, nullptr, nullptr};
}

// The response as start_response left it, and where sending it stands.
struct Current {
  app::Exchange* x = nullptr;  // null between requests
  uint64_t serial = 0;         // identifies the request to wsgi.input objects
  bool started = false;        // start_response was called
  bool sent = false;           // status and headers went to the Exchange (committed)
  int status = 200;
  std::string reason;  // the phrase after the code ("" when the status was only a code)
  std::vector<std::pair<std::string, std::string>> headers;
};
Current& current();  // the calling thread's
// Requests run on several threads (--threads): release the GIL around socket I/O.
bool multithread();
void set_multithread(bool on);
// x.stream() of a bytes object (without the GIL when multithread()); 0 or -1.
int stream_bytes(app::Exchange& x, PyObject* bytes);

// Status and headers to the Exchange (once): Content-Length becomes set_content_length.
void commit();

// The _cppicorn module (runtime.cpp): registered before the interpreter starts.
PyObject* init_runtime_module();
// After start: runs the Python half of the runtime and keeps what environ needs. False with
// a Python error set.
bool load_runtime();
PyObject* start_response_fn();  // borrowed
PyObject* file_wrapper_type();  // borrowed
PyObject* errors_stream();      // borrowed
// A new wsgi.input for the current request.
PyObject* new_input();

// The environ of the current request (environ.cpp). Nullptr with a Python error set.
PyObject* make_environ(app::Exchange& x);
// Builds the constant part once, after load_runtime(); root_path is --root-path (SCRIPT_NAME).
bool init_environ(bool multithread, const std::string& root_path);

// Request-target helpers (environ.cpp), shared with the ASGI scope: %XX decoded (a '%' not
// followed by two hex digits stays); Host split into a server name and port; the mount
// point (root_path, else $SCRIPT_NAME, without a trailing '/') and its removal from the
// front of a path that starts with it.
std::string percent_decode(std::string_view s);
void split_host(std::string_view host, std::string_view scheme, std::string_view* name,
                std::string_view* port);
std::string mount_point(const std::string& root_path);
void strip_mount(const std::string& mount, std::string* path);

// The interpreter's part of App::worker_start (after fork: then the GIL is released) and
// App::worker_stop (takes the GIL back, flushes, finalizes), for WSGI and ASGI apps alike.
void interpreter_worker_start();
void interpreter_worker_stop();

// Starts CPython in this process once (the _cppicorn modules registered first); later calls
// return true. The caller then holds the GIL (a master that read a config file keeps it).
bool start_interpreter(std::string* error);
// In the child of a fork of a process whose interpreter runs: PyOS_AfterFork_Child, once.
void interpreter_forked();
// sys.stdout and sys.stderr flushed (before a fork, so buffered output is not written twice).
void flush_std_streams();

// The pending Python exception (cleared) as "Type: message" plus its traceback.
std::string format_exception();

}  // namespace cppicorn::wsgi
