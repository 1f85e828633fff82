// The _cppicorn_asgi module: what the Python glue (asgi_glue.cpp) calls for each request.
//   take()                    (calls the worker handed over, WebSocket calls with news): two
//                             lists of handles, or None once the worker stops
//   started(ok, message)      the loop serves (after lifespan startup), or failed to start
//   scope(h, state)           the request's HTTP or websocket scope (ASGI 3, www spec 2.3)
//   read(h)                   (body bytes, more_body); blocks only past the pre-read body
//   start(h, status, headers) http.response.start
//   body(h, data, more)       http.response.body; False when the client is gone
//   end(h, ok, error)         the call is over (error: the traceback to log with it)
//   log(level, text)          a line in the server's log
//   ws_*                      a WebSocket's events (asgi_ws.cpp)
#include <spdlog/spdlog.h>
#include <strings.h>

#include <charconv>
#include <mutex>
#include <string_view>
#include <vector>

#include "app/asgi/asgi.h"
#include "http/response.h"

namespace cppicorn::asgi {
namespace {

app::CallQueue* g_queue = nullptr;         // the running loop's (its thread, under the GIL)
std::string g_mount;                       // root_path of every scope
PyObject* g_asgi = nullptr;                // the scope's "asgi" dict, shared by every scope
std::vector<app::Call*> g_taken, g_woken;  // reused by take()

}  // namespace

app::Call* call_of(PyObject* handle) {
  auto* call = static_cast<app::Call*>(PyLong_AsVoidPtr(handle));
  if (call != nullptr && call->exchange() != nullptr) return call;
  if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "no such call");
  return nullptr;
}

namespace {

PyObject* bytes_of(std::string_view s) {
  return PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
}

bool set(PyObject* d, const char* key, PyObject* value) {
  if (value == nullptr) return false;
  int rc = PyDict_SetItemString(d, key, value);
  Py_DECREF(value);
  return rc == 0;
}

PyObject* take(PyObject*, PyObject*) {
  if (g_queue == nullptr) return PyErr_Format(PyExc_RuntimeError, "no ASGI loop is running");
  g_taken.clear();
  g_woken.clear();
  bool more = g_queue->take(&g_taken, &g_woken);
  if (!more && g_taken.empty()) Py_RETURN_NONE;
  auto handles = [](const std::vector<app::Call*>& calls) -> PyObject* {
    Ref list(PyList_New(static_cast<Py_ssize_t>(calls.size())));
    if (!list) return nullptr;
    for (size_t i = 0; i < calls.size(); ++i) {
      PyObject* h = PyLong_FromVoidPtr(calls[i]);
      if (h == nullptr) return nullptr;
      PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), h);
    }
    return list.release();
  };
  return Py_BuildValue("(NN)", handles(g_taken), handles(g_woken));
}

PyObject* started(PyObject*, PyObject* args) {
  int ok;
  const char* message = "";
  if (!PyArg_ParseTuple(args, "p|s:started", &ok, &message)) return nullptr;
  if (g_queue != nullptr) g_queue->started(ok != 0, message);
  Py_RETURN_NONE;
}

PyObject* lower_bytes(std::string_view s) {
  Ref b(PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(s.size())));
  if (!b) return nullptr;
  char* out = PyBytes_AS_STRING(b.get());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    out[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
  }
  return b.release();
}

PyObject* scope(PyObject*, PyObject* args) {
  PyObject* handle;
  PyObject* state;
  if (!PyArg_ParseTuple(args, "OO:scope", &handle, &state)) return nullptr;
  app::Call* call = call_of(handle);
  if (call == nullptr) return nullptr;
  if (g_queue != nullptr) g_queue->running(*call);  // a task's first step: its app code next
  app::Exchange& x = *call->exchange();
  const http::Request& r = x.request();
  app::WebSocket* ws = x.websocket();
  Ref d(PyDict_New());
  if (!d) return nullptr;
  PyObject* s = d.get();
  std::string path = wsgi::percent_decode(r.path);
  wsgi::strip_mount(g_mount, &path);
  std::string_view scheme = x.url_scheme();
  if (ws != nullptr) scheme = scheme == "https" ? "wss" : "ws";
  std::string_view server_name, server_port;
  wsgi::split_host(r.host, scheme, &server_name, &server_port);
  int port = 0;
  std::from_chars(server_port.data(), server_port.data() + server_port.size(), port);
  if (!set(s, "type", PyUnicode_FromString(ws != nullptr ? "websocket" : "http")) ||
      !set(s, "asgi", Py_NewRef(g_asgi)) ||
      !set(s, "http_version", PyUnicode_FromString(r.version_minor == 0 ? "1.0" : "1.1")) ||
      (ws == nullptr &&
       !set(s, "method",
            PyUnicode_DecodeLatin1(r.method.data(), static_cast<Py_ssize_t>(r.method.size()),
                                   nullptr))) ||
      !set(
          s, "scheme",
          PyUnicode_DecodeLatin1(scheme.data(), static_cast<Py_ssize_t>(scheme.size()), nullptr)) ||
      !set(s, "path",
           PyUnicode_DecodeUTF8(path.data(), static_cast<Py_ssize_t>(path.size()), "replace")) ||
      !set(s, "raw_path", bytes_of(r.path)) || !set(s, "query_string", bytes_of(r.query)) ||
      !set(s, "root_path",
           PyUnicode_DecodeUTF8(g_mount.data(), static_cast<Py_ssize_t>(g_mount.size()),
                                "replace")) ||
      !set(s, "client",
           Py_BuildValue("(s#i)", x.remote_addr().data(),
                         static_cast<Py_ssize_t>(x.remote_addr().size()), x.remote_port())) ||
      !set(s, "server",
           Py_BuildValue("(s#i)", server_name.data(), static_cast<Py_ssize_t>(server_name.size()),
                         port))) {
    return nullptr;
  }
  Ref headers(PyList_New(static_cast<Py_ssize_t>(r.headers.size())));
  if (!headers) return nullptr;
  for (size_t i = 0; i < r.headers.size(); ++i) {
    const http::Header& h = r.headers[i];
    PyObject* pair = Py_BuildValue("(NN)", lower_bytes(h.name), bytes_of(h.value));
    if (pair == nullptr) return nullptr;
    PyList_SET_ITEM(headers.get(), static_cast<Py_ssize_t>(i), pair);
  }
  if (!set(s, "headers", headers.release())) return nullptr;
  if (ws != nullptr &&
      (!set(s, "subprotocols", ws_subprotocols(*ws)) ||
       !set(s, "extensions", Py_BuildValue("{s:{}}", "websocket.http.response")))) {
    return nullptr;
  }
  if (state != Py_None && PyDict_SetItemString(s, "state", state) != 0) return nullptr;
  return d.release();
}

PyObject* read(PyObject*, PyObject* handle) {
  app::Call* call = call_of(handle);
  if (call == nullptr) return nullptr;
  app::Exchange& x = *call->exchange();
  constexpr Py_ssize_t kChunk = 65536;  // as the pre-read: one event for most bodies
  Ref buf(PyBytes_FromStringAndSize(nullptr, kChunk));
  if (!buf) return nullptr;
  int64_t n;
  // Never waits on the client, except over TLS (body_timeout at most): let the app's own
  // threads run meanwhile. None: the call comes back in take()'s woken list once bytes came.
  Py_BEGIN_ALLOW_THREADS n = x.try_read_body(PyBytes_AS_STRING(buf.get()), kChunk);
  Py_END_ALLOW_THREADS if (n == app::Exchange::kBodyPending) Py_RETURN_NONE;
  if (n < 0) return PyErr_Format(PyExc_OSError, "the request body could not be read");
  PyObject* out = buf.release();
  if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(n)) != 0) return nullptr;
  const bool more = n > 0 && !x.body_complete();
  return Py_BuildValue("(NO)", out, more ? Py_True : Py_False);
}

}  // namespace

// A header name or value: bytes (str is taken as latin-1, as uvicorn does).
bool text_of(PyObject* o, std::string_view* out, Ref* hold) {
  if (PyUnicode_Check(o)) {
    *hold = Ref(PyUnicode_AsLatin1String(o));
    if (!*hold) return false;
    o = hold->get();
  }
  if (!PyBytes_Check(o)) {
    PyErr_Format(PyExc_TypeError, "response header names and values must be bytes, not %.100s",
                 Py_TYPE(o)->tp_name);
    return false;
  }
  *out = {PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o))};
  return true;
}

namespace {

PyObject* start(PyObject*, PyObject* args) {
  PyObject* handle;
  int status;
  PyObject* headers;
  if (!PyArg_ParseTuple(args, "OiO:start", &handle, &status, &headers)) return nullptr;
  app::Call* call = call_of(handle);
  if (call == nullptr) return nullptr;
  if (status < 200 || status > 999) {
    return PyErr_Format(PyExc_ValueError, "invalid status %d in http.response.start", status);
  }
  app::Exchange& x = *call->exchange();
  x.set_status(status);
  if (!for_each_header(
          headers, "each response header must be a [name, value] pair",
          [&](std::string_view name, std::string_view value) {
            if (name.size() == 14 && strncasecmp(name.data(), "content-length", 14) == 0) {
              uint64_t n;
              auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
              if (ec == std::errc() && end == value.data() + value.size() && !value.empty()) {
                x.set_content_length(n);
              }
              return;
            }
            // checked there: invalid fields are dropped with a warning
            x.add_header(name, value);
          })) {
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* body(PyObject*, PyObject* args) {
  PyObject* handle;
  Py_buffer data;
  int more;
  int streamed;
  if (!PyArg_ParseTuple(args, "Oy*pp:body", &handle, &data, &more, &streamed)) return nullptr;
  app::Call* call = call_of(handle);
  if (call == nullptr) {
    PyBuffer_Release(&data);
    return nullptr;
  }
  app::Exchange& x = *call->exchange();
  int rc = 0;
  if (!more && !streamed) {
    // The whole body in one message (the usual case): buffered, and the worker's loop
    // writes it with the head once the call is handed back.
    x.write(data.buf, static_cast<size_t>(data.len));
  } else {
    // Streamed: written now; what a full socket does not take the worker's loop writes, and
    // None tells the glue to wait for that (drained()). Over TLS a full socket waits here.
    Py_BEGIN_ALLOW_THREADS rc = x.try_stream(data.buf, static_cast<size_t>(data.len));
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&data);
  if (rc == app::Exchange::kStreamPending) Py_RETURN_NONE;
  return Py_NewRef(rc == 0 ? Py_True : Py_False);
}

// Whether the client closed its side while the call ran (a woken call that waits for the
// end of its exchange asks this).
PyObject* gone(PyObject*, PyObject* handle) {
  app::Call* call = call_of(handle);
  if (call == nullptr) return nullptr;
  return Py_NewRef(call->exchange()->client_gone() ? Py_True : Py_False);
}

// After body() gave None: None while the worker still writes, then whether that worked.
PyObject* drained(PyObject*, PyObject* handle) {
  app::Call* call = call_of(handle);
  if (call == nullptr) return nullptr;
  int rc = call->exchange()->stream_flushed();
  if (rc == app::Exchange::kStreamPending) Py_RETURN_NONE;
  return Py_NewRef(rc == 0 ? Py_True : Py_False);
}

PyObject* end(PyObject*, PyObject* args) {
  PyObject* handle;
  int ok;
  PyObject* error = Py_None;
  if (!PyArg_ParseTuple(args, "Op|O:end", &handle, &ok, &error)) return nullptr;
  app::Call* call = call_of(handle);
  if (call == nullptr) return nullptr;
  if (error != Py_None) {
    const char* text = PyUnicode_Check(error) ? PyUnicode_AsUTF8(error) : nullptr;
    if (text == nullptr) PyErr_Clear();
    const http::Request& r = call->exchange()->request();
    spdlog::error("Error handling request {} {}:\n{}", r.method, r.target, text ? text : "?");
  }
  if (g_queue != nullptr) {
    Py_BEGIN_ALLOW_THREADS g_queue->done(*call, ok != 0);  // may finish a stream: a write
    Py_END_ALLOW_THREADS
  }
  Py_RETURN_NONE;
}

PyObject* log(PyObject*, PyObject* args) {
  const char* level;
  const char* text;
  if (!PyArg_ParseTuple(args, "ss:log", &level, &text)) return nullptr;
  std::string_view l = level;
  if (l == "error") {
    spdlog::error("{}", text);
  } else if (l == "warning") {
    spdlog::warn("{}", text);
  } else if (l == "debug") {
    spdlog::debug("{}", text);
  } else {
    spdlog::info("{}", text);
  }
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"take", take, METH_NOARGS, "take() -> [handle, ...] or None once the worker stops"},
    {"started", started, METH_VARARGS, "started(ok, message='')"},
    {"scope", scope, METH_VARARGS, "scope(handle, state) -> the HTTP scope"},
    {"read", read, METH_O, "read(handle) -> (body, more_body), or None: wait for a wake-up"},
    {"start", start, METH_VARARGS, "start(handle, status, headers)"},
    {"body", body, METH_VARARGS,
     "body(handle, data, more, streamed) -> False: client gone; None: wait, then drained()"},
    {"drained", drained, METH_O, "drained(handle) -> None while writing, then True or False"},
    {"gone", gone, METH_O, "gone(handle) -> whether the client closed its side"},
    {"end", end, METH_VARARGS, "end(handle, ok, error=None)"},
    {"log", log, METH_VARARGS, "log(level, text)"},
    {"ws_accept", ws_accept, METH_VARARGS, "ws_accept(handle, subprotocol, headers)"},
    {"ws_deny", ws_deny, METH_O, "ws_deny(handle): 403 instead of the handshake"},
    {"ws_recv", ws_recv, METH_O, "ws_recv(handle) -> the next event, or None: wait"},
    {"ws_send", ws_send, METH_VARARGS, "ws_send(handle, str|bytes) -> 0 ok, 1 full, -1 closed"},
    {"ws_writable", ws_writable, METH_O, "ws_writable(handle) -> 0 ok, 1 full, -1 closed"},
    {"ws_close", ws_close, METH_VARARGS, "ws_close(handle, code, reason)"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = wsgi::module_def(
    "_cppicorn_asgi", "cppicorn's ASGI bridge (the server side of each request)", kMethods);

}  // namespace

app::CallQueue* queue() { return g_queue; }
void set_queue(app::CallQueue* q) { g_queue = q; }
void set_root_path(const std::string& root_path) { g_mount = wsgi::mount_point(root_path); }

PyObject* init_module() {
  Ref m(PyModule_Create(&kModule));
  if (!m) return nullptr;
  g_asgi = Py_BuildValue("{s:s,s:s}", "version", "3.0", "spec_version", "2.3");
  if (g_asgi == nullptr || PyModule_AddObjectRef(m.get(), "ASGI", g_asgi) != 0) return nullptr;
  return m.release();
}

}  // namespace cppicorn::asgi
