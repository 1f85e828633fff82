// The _cppicorn module: start_response and write() (PEP 3333's callables), the request-body
// reader behind wsgi.input and the error-log writer behind wsgi.errors. The stream objects
// themselves (Input, Errors, FileWrapper) are a few lines of Python run at start.
#include <spdlog/spdlog.h>
#include <strings.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include "app/wsgi/wsgi.h"
#include "http/response.h"

namespace cppicorn::wsgi {
namespace {

constexpr char kStreams[] = R"PY(
import _cppicorn

class Input:
    """wsgi.input: the request body, read from the connection as the app asks for it."""
    __slots__ = ("_serial", "_buf", "_eof")

    def __init__(self, serial):
        self._serial = serial
        self._buf = bytearray()
        self._eof = False

    def _more(self, n):
        if self._eof:
            return False
        chunk = _cppicorn.read_body(self._serial, max(n, 8192))
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _take(self, n):
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read(self, size=-1):
        if size is None or size < 0:
            while self._more(65536):
                pass
            return self._take(len(self._buf))
        while len(self._buf) < size and self._more(size - len(self._buf)):
            pass
        return self._take(size)

    def readline(self, size=-1):
        limited = size is not None and size >= 0
        start = 0
        while True:
            i = self._buf.find(b"\n", start)
            if i >= 0:
                n = i + 1
                break
            start = len(self._buf)
            if (limited and len(self._buf) >= size) or not self._more(8192):
                n = len(self._buf)
                break
        return self._take(min(n, size) if limited else n)

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class Errors:
    """wsgi.errors: text to the server's error log, a log entry per written line."""

    def __init__(self):
        self._buf = ""

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"wsgi.errors.write() takes str, not {type(s).__name__}")
        self._buf += s
        i = self._buf.rfind("\n")
        if i >= 0:
            _cppicorn.log(self._buf[:i])
            self._buf = self._buf[i + 1:]
        return len(s)

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def flush(self):
        if self._buf:
            _cppicorn.log(self._buf)
            self._buf = ""


class FileWrapper:
    """wsgi.file_wrapper: a file with fileno() is sent with sendfile(), others are read."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration
)PY";

thread_local Current g_current;
bool g_multithread = false;
PyObject* g_write = nullptr;
PyObject* g_start_response = nullptr;
PyObject* g_input_type = nullptr;
PyObject* g_file_wrapper = nullptr;
PyObject* g_errors = nullptr;

PyObject* error(PyObject* type, const char* message) {
  PyErr_SetString(type, message);
  return nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A str as latin-1 bytes (PEP 3333's "native strings"); false with an error set.
bool latin1(PyObject* s, std::string* out) {
  if (!PyUnicode_Check(s)) {
    PyErr_Format(PyExc_TypeError, "response headers must be str, not %.100s", Py_TYPE(s)->tp_name);
    return false;
  }
  Ref bytes(PyUnicode_AsLatin1String(s));
  if (!bytes) return false;
  out->assign(PyBytes_AS_STRING(bytes.get()), static_cast<size_t>(PyBytes_GET_SIZE(bytes.get())));
  return true;
}

PyObject* start_response(PyObject*, PyObject* args, PyObject* kwargs) {
  static const char* kKeywords[] = {"status", "headers", "exc_info", nullptr};
  PyObject* status;
  PyObject* headers;
  PyObject* exc_info = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response",
                                   const_cast<char**>(kKeywords), &status, &headers, &exc_info)) {
    return nullptr;
  }
  Current& c = g_current;
  if (c.x == nullptr) return error(PyExc_RuntimeError, "start_response() outside of a request");
  if (exc_info != Py_None) {
    if (c.sent) {  // too late to change the response: re-raise the app's exception
      PyObject *type, *value, *tb;
      if (!PyArg_ParseTuple(exc_info, "OOO:exc_info", &type, &value, &tb)) return nullptr;
      PyErr_Restore(Py_NewRef(type), Py_NewRef(value), tb == Py_None ? nullptr : Py_NewRef(tb));
      return nullptr;
    }
  } else if (c.started) {
    return error(PyExc_RuntimeError, "start_response() called again without exc_info (PEP 3333)");
  }
  std::string line;
  if (!latin1(status, &line)) return nullptr;
  int code = 0;
  auto [end, ec] =
      std::from_chars(line.data(), line.data() + std::min<size_t>(line.size(), 3), code);
  if (ec != std::errc() || end != line.data() + 3 || (line.size() > 3 && line[3] != ' ') ||
      code < 200 || code > 999) {
    PyErr_Format(PyExc_ValueError, "invalid status %R: expected '200 OK' and the like", status);
    return nullptr;
  }
  // The app's phrase goes on the status line as it is (as gunicorn sends it), once it is
  // known to hold no CR, LF or other CTL that could split or forge the head.
  std::string_view reason = std::string_view(line).substr(std::min<size_t>(line.size(), 4));
  if (!http::valid_reason(reason)) {
    PyErr_Format(PyExc_ValueError, "invalid status %R: control character in the reason phrase",
                 status);
    return nullptr;
  }
  if (!PyList_Check(headers)) {
    PyErr_Format(PyExc_TypeError, "response headers must be a list, not %.100s",
                 Py_TYPE(headers)->tp_name);
    return nullptr;
  }
  std::vector<std::pair<std::string, std::string>> fields;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
      return error(PyExc_TypeError, "each response header must be a (name, value) tuple");
    }
    std::pair<std::string, std::string> f;
    if (!latin1(PyTuple_GET_ITEM(item, 0), &f.first) ||
        !latin1(PyTuple_GET_ITEM(item, 1), &f.second)) {
      return nullptr;
    }
    fields.push_back(std::move(f));
  }
  c.status = code;
  c.reason.assign(reason);
  c.headers = std::move(fields);
  c.started = true;
  return Py_NewRef(g_write);
}

PyObject* write_body(PyObject*, PyObject* data) {
  Current& c = g_current;
  if (c.x == nullptr) return error(PyExc_RuntimeError, "write() outside of a request");
  if (!c.started) return error(PyExc_RuntimeError, "write() before start_response()");
  if (!PyBytes_Check(data)) {
    PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
    return nullptr;
  }
  if (PyBytes_GET_SIZE(data) == 0) Py_RETURN_NONE;
  commit();
  if (stream_bytes(*c.x, data) != 0) return error(PyExc_OSError, "the client is gone");
  Py_RETURN_NONE;
}

PyObject* read_body(PyObject*, PyObject* args) {
  unsigned long long serial;
  Py_ssize_t size;
  if (!PyArg_ParseTuple(args, "Kn:read_body", &serial, &size)) return nullptr;
  Current& c = g_current;
  if (c.x == nullptr || serial != c.serial) {
    return error(PyExc_ValueError, "wsgi.input of a request that has ended");
  }
  size = std::clamp<Py_ssize_t>(size, 1, 1 << 20);
  Ref buf(PyBytes_FromStringAndSize(nullptr, size));
  if (!buf) return nullptr;
  int64_t n;
  if (g_multithread) {  // the read may wait on the client: let the other threads run
    Py_BEGIN_ALLOW_THREADS n =
        c.x->read_body(PyBytes_AS_STRING(buf.get()), static_cast<size_t>(size));
    Py_END_ALLOW_THREADS
  } else {
    n = c.x->read_body(PyBytes_AS_STRING(buf.get()), static_cast<size_t>(size));
  }
  if (n < 0) return error(PyExc_OSError, "the request body could not be read");
  PyObject* out = buf.release();
  if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(n)) != 0) return nullptr;
  return out;
}

PyObject* log_text(PyObject*, PyObject* text) {
  Py_ssize_t len;
  const char* s = PyUnicode_AsUTF8AndSize(text, &len);
  if (s == nullptr) return nullptr;
  spdlog::error("{}", std::string_view(s, static_cast<size_t>(len)));
  Py_RETURN_NONE;
}

// log_at(level, text): 0 debug, 1 info, 2 warning, 3 error, 4 critical (hooks' server.log).
PyObject* log_at(PyObject*, PyObject* args) {
  int level;
  const char* s;
  Py_ssize_t len;
  if (!PyArg_ParseTuple(args, "is#", &level, &s, &len)) return nullptr;
  constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::info,
                                                   spdlog::level::warn, spdlog::level::err,
                                                   spdlog::level::critical};
  spdlog::log(kLevels[std::clamp(level, 0, 4)], "{}",
              std::string_view(s, static_cast<size_t>(len)));
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"start_response", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(start_response)),
     METH_VARARGS | METH_KEYWORDS, "start_response(status, headers, exc_info=None)"},
    {"write", write_body, METH_O, "write(data): send body bytes now"},
    {"read_body", read_body, METH_VARARGS, "read_body(serial, size) -> bytes"},
    {"log", log_text, METH_O, "log(text): one entry in the error log"},
    {"log_at", log_at, METH_VARARGS, "log_at(level, text): one entry at a level (0-4)"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = module_def("_cppicorn", "cppicorn's WSGI runtime", kMethods);

}  // namespace

Current& current() { return g_current; }
bool multithread() { return g_multithread; }
void set_multithread(bool on) { g_multithread = on; }

int stream_bytes(app::Exchange& x, PyObject* bytes) {
  const char* data = PyBytes_AS_STRING(bytes);
  const size_t len = static_cast<size_t>(PyBytes_GET_SIZE(bytes));
  if (!g_multithread) return x.stream(data, len);
  int rc;
  // The caller holds a reference to the (immutable) bytes, so they outlive the write.
  Py_BEGIN_ALLOW_THREADS rc = x.stream(data, len);
  Py_END_ALLOW_THREADS return rc;
}

void commit() {
  Current& c = g_current;
  if (c.sent) return;
  c.sent = true;
  c.x->set_status(c.status);
  c.x->set_reason(c.reason);  // checked by start_response
  for (const auto& [name, value] : c.headers) {
    if (iequals(name, "Content-Length")) {
      uint64_t n;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && end == value.data() + value.size() && !value.empty()) {
        c.x->set_content_length(n);
      }
      continue;
    }
    c.x->add_header(name, value);
  }
}

PyObject* init_runtime_module() { return PyModule_Create(&kModule); }

bool load_runtime() {
  Ref module(PyImport_ImportModule("_cppicorn"));
  if (!module) return false;
  g_write = PyObject_GetAttrString(module.get(), "write");
  g_start_response = PyObject_GetAttrString(module.get(), "start_response");
  if (g_write == nullptr || g_start_response == nullptr) return false;
  Ref streams(PyModule_New("cppicorn.wsgi"));
  if (!streams) return false;
  PyObject* dict = PyModule_GetDict(streams.get());
  if (PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) != 0) return false;
  Ref code(Py_CompileString(kStreams, "<cppicorn.wsgi>", Py_file_input));
  if (!code) return false;
  Ref result(PyEval_EvalCode(code.get(), dict, dict));
  if (!result) return false;
  g_input_type = Py_XNewRef(PyDict_GetItemString(dict, "Input"));
  g_file_wrapper = Py_XNewRef(PyDict_GetItemString(dict, "FileWrapper"));
  PyObject* errors_type = PyDict_GetItemString(dict, "Errors");
  if (g_input_type == nullptr || g_file_wrapper == nullptr || errors_type == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "cppicorn.wsgi is incomplete");
    return false;
  }
  g_errors = PyObject_CallNoArgs(errors_type);
  return g_errors != nullptr;
}

PyObject* start_response_fn() { return g_start_response; }
PyObject* file_wrapper_type() { return g_file_wrapper; }
PyObject* errors_stream() { return g_errors; }

PyObject* new_input() {
  Ref serial(PyLong_FromUnsignedLongLong(g_current.serial));
  if (!serial) return nullptr;
  return PyObject_CallOneArg(g_input_type, serial.get());
}

std::string format_exception() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (type == nullptr) return "unknown error";
  PyErr_NormalizeException(&type, &value, &tb);
  Ref t(type), v(value), b(tb);
  std::string out;
  Ref traceback(PyImport_ImportModule("traceback"));
  Ref lines(traceback ? PyObject_CallMethod(traceback.get(), "format_exception", "OOO", type,
                                            value ? value : Py_None, tb ? tb : Py_None)
                      : nullptr);
  Ref sep(PyUnicode_FromString(""));
  Ref text(lines && sep ? PyUnicode_Join(sep.get(), lines.get()) : nullptr);
  const char* s = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
  if (s == nullptr) {
    PyErr_Clear();
    Ref str(value ? PyObject_Str(value) : nullptr);
    s = str ? PyUnicode_AsUTF8(str.get()) : nullptr;
    out = s ? s : "unprintable exception";
    PyErr_Clear();
    return out;
  }
  out = s;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace cppicorn::wsgi
