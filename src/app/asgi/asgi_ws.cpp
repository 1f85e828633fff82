// The WebSocket functions of the _cppicorn_asgi module (asgi_glue.cpp's _WsCycle calls them):
//   ws_accept(h, subprotocol, headers)  websocket.accept: the worker sends the 101
//   ws_deny(h)                          websocket.close before accept: a 403 response
//   ws_recv(h)                          the next websocket.receive / websocket.disconnect
//                                       event as a dict, or None (the call is woken later)
//   ws_send(h, data)                    websocket.send (str: a text frame, bytes: binary)
//   ws_writable(h)                      after a wake-up: may the app send again
//   ws_close(h, code, reason)           websocket.close after accept
// Framing, pings and the closing handshake are the worker's loop's (worker/ws_session.h).
#include <algorithm>

#include "app/asgi/asgi.h"

namespace cppicorn::asgi {
namespace {

app::WebSocket* ws_of(PyObject* handle, app::Exchange** x = nullptr) {
  app::Call* call = call_of(handle);
  if (call == nullptr) return nullptr;
  app::WebSocket* ws = call->exchange()->websocket();
  if (ws == nullptr) PyErr_SetString(PyExc_ValueError, "the call is not a WebSocket");
  if (x != nullptr) *x = call->exchange();
  return ws;
}

PyObject* sent(app::WebSocket::Sent s) {
  return PyLong_FromLong(s == app::WebSocket::Sent::kOk     ? 0
                         : s == app::WebSocket::Sent::kFull ? 1
                                                            : -1);
}

}  // namespace

PyObject* ws_subprotocols(app::WebSocket& ws) {
  const std::vector<std::string>& offered = ws.subprotocols();
  Ref list(PyList_New(static_cast<Py_ssize_t>(offered.size())));
  if (!list) return nullptr;
  for (size_t i = 0; i < offered.size(); ++i) {
    PyObject* p = PyUnicode_DecodeLatin1(offered[i].data(),
                                         static_cast<Py_ssize_t>(offered[i].size()), nullptr);
    if (p == nullptr) return nullptr;
    PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), p);
  }
  return list.release();
}

PyObject* ws_accept(PyObject*, PyObject* args) {
  PyObject* handle;
  PyObject* subprotocol;
  PyObject* headers;
  if (!PyArg_ParseTuple(args, "OOO:ws_accept", &handle, &subprotocol, &headers)) return nullptr;
  app::Exchange* x = nullptr;
  app::WebSocket* ws = ws_of(handle, &x);
  if (ws == nullptr) return nullptr;
  std::string chosen;
  if (subprotocol != Py_None) {
    const char* p = PyUnicode_AsUTF8(subprotocol);
    if (p == nullptr) return nullptr;
    chosen = p;
    const std::vector<std::string>& offered = ws->subprotocols();
    if (std::find(offered.begin(), offered.end(), chosen) == offered.end()) {
      return PyErr_Format(PyExc_ValueError,
                          "websocket.accept: subprotocol %R was not offered by the client",
                          subprotocol);
    }
  }
  if (!for_each_header(headers, "each header must be a [name, value] pair",
                       [&](std::string_view name, std::string_view value) {
                         // checked there; the handshake's own fields are the server's
                         x->add_header(name, value);
                       })) {
    return nullptr;
  }
  ws->accept(chosen);
  Py_RETURN_NONE;
}

PyObject* ws_deny(PyObject*, PyObject* handle) {
  app::Exchange* x = nullptr;
  if (ws_of(handle, &x) == nullptr) return nullptr;
  x->set_status(403);
  x->write("", 0);
  Py_RETURN_NONE;
}

PyObject* ws_recv(PyObject*, PyObject* handle) {
  app::WebSocket* ws = ws_of(handle);
  if (ws == nullptr) return nullptr;
  app::WebSocket::Message m;
  if (!ws->receive(&m)) Py_RETURN_NONE;
  const auto size = static_cast<Py_ssize_t>(m.data.size());
  switch (m.kind) {
    case app::WebSocket::Message::kText:
      // Valid UTF-8: the loop checked every text frame.
      return Py_BuildValue("{s:s,s:N}", "type", "websocket.receive", "text",
                           PyUnicode_DecodeUTF8(m.data.data(), size, "replace"));
    case app::WebSocket::Message::kBinary:
      return Py_BuildValue("{s:s,s:N}", "type", "websocket.receive", "bytes",
                           PyBytes_FromStringAndSize(m.data.data(), size));
    default:
      return Py_BuildValue("{s:s,s:i,s:N}", "type", "websocket.disconnect", "code", m.code,
                           "reason", PyUnicode_DecodeUTF8(m.data.data(), size, "replace"));
  }
}

PyObject* ws_send(PyObject*, PyObject* args) {
  PyObject* handle;
  PyObject* data;
  if (!PyArg_ParseTuple(args, "OO:ws_send", &handle, &data)) return nullptr;
  app::WebSocket* ws = ws_of(handle);
  if (ws == nullptr) return nullptr;
  if (PyUnicode_Check(data)) {
    Py_ssize_t n;
    const char* p = PyUnicode_AsUTF8AndSize(data, &n);
    if (p == nullptr) return nullptr;
    return sent(ws->send(true, p, static_cast<size_t>(n)));
  }
  Py_buffer buf;
  if (PyObject_GetBuffer(data, &buf, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    return PyErr_Format(PyExc_TypeError,
                        "websocket.send needs 'text' (str) or 'bytes' (bytes), not %.100s",
                        Py_TYPE(data)->tp_name);
  }
  app::WebSocket::Sent s = ws->send(false, buf.buf, static_cast<size_t>(buf.len));
  PyBuffer_Release(&buf);
  return sent(s);
}

PyObject* ws_writable(PyObject*, PyObject* handle) {
  app::WebSocket* ws = ws_of(handle);
  if (ws == nullptr) return nullptr;
  return sent(ws->writable());
}

PyObject* ws_close(PyObject*, PyObject* args) {
  PyObject* handle;
  int code;
  const char* reason = "";
  Py_ssize_t reason_len = 0;
  if (!PyArg_ParseTuple(args, "Oi|s#:ws_close", &handle, &code, &reason, &reason_len)) {
    return nullptr;
  }
  app::WebSocket* ws = ws_of(handle);
  if (ws == nullptr) return nullptr;
  if (code < 0 || code > 65535) {
    return PyErr_Format(PyExc_ValueError, "websocket.close: invalid code %d", code);
  }
  // A code the app may not send (1005, 1006, out of range) goes out as 1011 (ws/frame.h).
  ws->close(static_cast<uint16_t>(code), {reason, static_cast<size_t>(reason_len)});
  Py_RETURN_NONE;
}

}  // namespace cppicorn::asgi
