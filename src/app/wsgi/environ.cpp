// The WSGI environ of one request (PEP 3333): CGI variables as latin-1 str, HTTP_* fields,
// and the wsgi.* keys. The constant part is built once and copied per request.
#include <cstdlib>
#include <string_view>

#include "app/wsgi/wsgi.h"

namespace cppicorn::wsgi {
namespace {

PyObject* g_base = nullptr;  // the constant keys, copied for each request

PyObject* latin1(std::string_view s) {
  return PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
}

bool set(PyObject* env, const char* key, PyObject* value) {
  if (value == nullptr) return false;
  int rc = PyDict_SetItemString(env, key, value);
  Py_DECREF(value);
  return rc == 0;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "HTTP_" + the field name upper-cased with '-' as '_'.
std::string cgi_name(std::string_view field) {
  std::string key = "HTTP_";
  key.reserve(5 + field.size());
  for (char c : field) {
    key.push_back(c == '-' ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
  }
  return key;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::string g_root_path;  // --root-path, set before init_environ()

std::string script_name() { return mount_point(g_root_path); }

}  // namespace

// %XX decoded; a '%' not followed by two hex digits stays as it is.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Host "name:port", "[v6]:port" or "name": SERVER_NAME and SERVER_PORT.
void split_host(std::string_view host, std::string_view scheme, std::string_view* name,
                std::string_view* port) {
  *port = scheme == "https" ? "443" : "80";
  size_t colon = host.rfind(':');
  size_t bracket = host.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    *name = host.substr(0, colon);
    if (colon + 1 < host.size()) *port = host.substr(colon + 1);
  } else {
    *name = host;
  }
  if (name->empty()) *name = "localhost";
}

std::string mount_point(const std::string& root_path) {
  const char* s = std::getenv("SCRIPT_NAME");  // as gunicorn: the app's mount point
  std::string v = !root_path.empty() ? root_path : s ? s : "";
  while (!v.empty() && v.back() == '/') v.pop_back();
  return v;
}

void strip_mount(const std::string& mount, std::string* path) {
  if (!mount.empty() && path->starts_with(mount) &&
      (path->size() == mount.size() || (*path)[mount.size()] == '/')) {
    path->erase(0, mount.size());
  }
}

bool init_environ(bool multithread, const std::string& root_path) {
  g_root_path = root_path;
  g_base = PyDict_New();
  if (g_base == nullptr) return false;
  PyObject* version = Py_BuildValue("(ii)", 1, 0);
  return set(g_base, "wsgi.version", version) &&
         set(g_base, "wsgi.multithread", Py_NewRef(multithread ? Py_True : Py_False)) &&
         set(g_base, "wsgi.multiprocess", Py_NewRef(Py_True)) &&
         set(g_base, "wsgi.run_once", Py_NewRef(Py_False)) &&
         set(g_base, "wsgi.input_terminated", Py_NewRef(Py_True)) &&
         set(g_base, "wsgi.errors", Py_NewRef(errors_stream())) &&
         set(g_base, "wsgi.file_wrapper", Py_NewRef(file_wrapper_type())) &&
         set(g_base, "SERVER_SOFTWARE", PyUnicode_FromString("cppicorn/" CPPICORN_VERSION)) &&
         set(g_base, "SCRIPT_NAME", latin1(script_name()));
}

PyObject* make_environ(app::Exchange& x) {
  const http::Request& r = x.request();
  Ref env(PyDict_Copy(g_base));
  if (!env) return nullptr;
  PyObject* e = env.get();
  std::string_view scheme = x.url_scheme();
  std::string path = percent_decode(r.path);
  static const std::string kScript = script_name();
  // A SCRIPT_NAME header only gets past the parser from a forwarder_headers peer (or with
  // header_map dangerous): it mounts the app there for this request, as gunicorn.
  const http::Header* mount = nullptr;  // (not Request::find: the plugin has no libhttp)
  for (const http::Header& h : r.headers) {
    if (iequals(h.name, "SCRIPT_NAME")) mount = &h;
  }
  if (mount == nullptr) {
    strip_mount(kScript, &path);
  } else if (path.starts_with(mount->value)) {
    path.erase(0, mount->value.size());
    if (!set(e, "SCRIPT_NAME", latin1(mount->value))) return nullptr;
  } else {
    PyErr_Format(PyExc_ValueError, "request path '%s' does not start with SCRIPT_NAME '%s'",
                 path.c_str(), std::string(mount->value).c_str());
    return nullptr;
  }
  std::string_view server_name, server_port;
  split_host(r.host, scheme, &server_name, &server_port);
  char version[] = "HTTP/1.x";
  version[7] = static_cast<char>('0' + r.version_minor);
  if (!set(e, "REQUEST_METHOD", latin1(r.method)) || !set(e, "PATH_INFO", latin1(path)) ||
      !set(e, "QUERY_STRING", latin1(r.query)) || !set(e, "RAW_URI", latin1(r.target)) ||
      !set(e, "SERVER_PROTOCOL", PyUnicode_FromString(version)) ||
      !set(e, "SERVER_NAME", latin1(server_name)) || !set(e, "SERVER_PORT", latin1(server_port)) ||
      !set(e, "REMOTE_ADDR", latin1(x.remote_addr())) ||
      !set(e, "REMOTE_PORT", PyUnicode_FromFormat("%d", x.remote_port())) ||
      !set(e, "wsgi.url_scheme", latin1(scheme)) || !set(e, "wsgi.input", new_input())) {
    return nullptr;
  }
  // TLS, by the names nginx's and Apache's CGI environments use (HTTPS=on and SSL_*).
  if (std::string_view on = x.tls_var("HTTPS"); !on.empty()) {
    for (const char* key : {"HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_CLIENT_VERIFY",
                            "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN"}) {
      std::string_view v = x.tls_var(key);
      if (!v.empty() && !set(e, key, latin1(v))) return nullptr;
    }
  }
  for (const http::Header& h : r.headers) {
    std::string key;
    if (iequals(h.name, "Content-Type")) {
      key = "CONTENT_TYPE";
    } else if (iequals(h.name, "Content-Length")) {
      key = "CONTENT_LENGTH";
    } else {
      key = cgi_name(h.name);
    }
    Ref value(latin1(h.value));
    if (!value) return nullptr;
    if (PyObject* prev = PyDict_GetItemString(e, key.c_str()); prev != nullptr) {
      // A repeated field: its values joined with ",", as one field would carry them.
      Ref comma(PyUnicode_FromString(","));
      Ref joined(PyUnicode_Concat(prev, comma.get()));
      if (!joined) return nullptr;
      value = Ref(PyUnicode_Concat(joined.get(), value.get()));
      if (!value) return nullptr;
    }
    if (PyDict_SetItemString(e, key.c_str(), value.get()) != 0) return nullptr;
  }
  return env.release();
}

}  // namespace cppicorn::wsgi
