// Internals of the ASGI side of the Python plugin (ASGI 3 on embedded CPython), built into
// wsgi.so beside the WSGI code it shares the interpreter with:
//   asgi_app.cpp     AsgiApp: the worker's App whose calls run on one asyncio loop
//   asgi_module.cpp  the _cppicorn_asgi module: take calls, build scopes, read bodies,
//                    send responses, hand calls back (C, so no Python per byte)
//   asgi_ws.cpp      the module's WebSocket functions (accept, receive, send, close)
//   asgi_glue.cpp    the Python half: the loop, the lifespan protocol, receive() and send()
//   asgi_glue_ws.cpp its WebSocket part (_WsCycle), compiled into the same namespace
// A call is named to Python by its address (an int) between take() and end(); the glue
// never uses one after end(), when the worker owns the connection again.
#pragma once

#include "app/app.h"
#include "app/pyconf_plugin.h"
#include "app/wsgi/wsgi.h"
#include "app/wsgi_plugin.h"

namespace cppicorn::asgi {

using wsgi::Ref;

// The WebSocket part of the Python half (asgi_glue_ws.cpp).
extern const char kWsGlue[];

// The _cppicorn_asgi module: registered before the interpreter starts.
PyObject* init_module();
// After start, with the GIL: compiles the Python half. False with a Python error set.
bool load_runtime();
// The Python half's serve(app, fd, lifespan, loop): runs the loop until the worker stops.
PyObject* serve_fn();  // borrowed

// The queue of the loop running now (set by run_loop on the loop's thread).
app::CallQueue* queue();
void set_queue(app::CallQueue* q);
// root_path as the scope carries it (--root-path, else $SCRIPT_NAME; no trailing '/').
void set_root_path(const std::string& root_path);

// A handle from Python as the call it names (null with a Python error when it is none).
app::Call* call_of(PyObject* handle);
// A header name or value for the response: bytes, or str taken as latin-1 (kept in *hold).
bool text_of(PyObject* o, std::string_view* out, Ref* hold);
// Calls fn(name, value) for each [name, value] pair of an ASGI headers iterable (the
// response's, the WebSocket accept's). False with a Python error set when headers is not
// such an iterable; `pair_error` is the message for an item that is not a pair.
template <typename Fn>
bool for_each_header(PyObject* headers, const char* pair_error, Fn fn) {
  Ref it(PyObject_GetIter(headers));
  if (!it) return false;
  while (Ref item = Ref(PyIter_Next(it.get()))) {
    Ref seq(PySequence_Fast(item.get(), pair_error));
    if (!seq) return false;
    if (PySequence_Fast_GET_SIZE(seq.get()) != 2) {
      PyErr_SetString(PyExc_ValueError, pair_error);
      return false;
    }
    std::string_view name, value;
    Ref hn, hv;
    if (!text_of(PySequence_Fast_GET_ITEM(seq.get(), 0), &name, &hn) ||
        !text_of(PySequence_Fast_GET_ITEM(seq.get(), 1), &value, &hv)) {
      return false;
    }
    fn(name, value);
  }
  return PyErr_Occurred() == nullptr;
}

// The WebSocket functions of _cppicorn_asgi (asgi_ws.cpp), and the scope's subprotocols.
PyObject* ws_subprotocols(app::WebSocket& ws);
PyObject* ws_accept(PyObject*, PyObject* args);
PyObject* ws_deny(PyObject*, PyObject* handle);
PyObject* ws_recv(PyObject*, PyObject* handle);
PyObject* ws_send(PyObject*, PyObject* args);
PyObject* ws_writable(PyObject*, PyObject* handle);
PyObject* ws_close(PyObject*, PyObject* args);

// The app for the worker: app is the imported ASGI callable (a new reference, kept).
app::App* new_app(PyObject* app, const app::WsgiSpec& spec);
// The config's pre_request/post_request run around each HTTP request of the app's loop, with
// a worker stand-in made of `worker` and `cfg` (which must outlive the app).
void set_request_hooks(const app::HookWorker& worker, const config::Settings& cfg);

}  // namespace cppicorn::asgi
