// HookedApp: an App that calls the config file's pre_request(worker, req) before each request
// and post_request(worker, req, environ, resp) after it, around the app the worker loaded
// (native or Python). Only made when one of them is defined, so workers without those hooks
// pay nothing. The response is seen through a RecordingExchange, which forwards every call and
// notes the status, the headers and the bytes sent.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "app/wsgi/pyconf.h"

namespace cppicorn::wsgi {
namespace {

// Forwards to the worker's Exchange, noting what the response is.
class RecordingExchange final : public app::Exchange {
 public:
  explicit RecordingExchange(app::Exchange& x) : x_(x) {}

  const http::Request& request() const override { return x_.request(); }
  std::string_view remote_addr() const override { return x_.remote_addr(); }
  int remote_port() const override { return x_.remote_port(); }
  std::string_view url_scheme() const override { return x_.url_scheme(); }
  std::string_view tls_var(std::string_view name) const override { return x_.tls_var(name); }
  int64_t read_body(void* buf, size_t len) override { return x_.read_body(buf, len); }
  bool body_complete() const override { return x_.body_complete(); }
  void set_status(int status) override {
    status_ = status;
    x_.set_status(status);
  }
  bool set_reason(std::string_view reason) override {
    bool ok = x_.set_reason(reason);
    if (ok) reason_ = reason;
    return ok;
  }
  void add_header(std::string_view name, std::string_view value) override {
    headers_.emplace_back(name, value);
    x_.add_header(name, value);
  }
  void write(const void* data, size_t len) override {
    sent_ += len;
    x_.write(data, len);
  }
  int stream(const void* data, size_t len) override {
    int rc = x_.stream(data, len);
    if (rc == 0) sent_ += len;
    return rc;
  }
  void set_content_length(uint64_t length) override { x_.set_content_length(length); }
  int send_file(int fd, int64_t offset, int64_t len) override {
    int rc = x_.send_file(fd, offset, len);
    if (rc == 0 && len > 0) sent_ += static_cast<uint64_t>(len);
    return rc;
  }

  int status_ = 200;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> headers_;
  uint64_t sent_ = 0;

 private:
  app::Exchange& x_;
};

PyObject* str(std::string_view s) {
  return PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
}

PyObject* make_request(const app::Exchange& x) {
  const http::Request& r = x.request();
  Ref headers(PyList_New(0));
  for (const http::Header& h : r.headers) {
    Ref pair(Py_BuildValue("(NN)", str(h.name), str(h.value)));
    if (!headers || !pair || PyList_Append(headers.get(), pair.get()) != 0) return nullptr;
  }
  PyObject* cls = PyDict_GetItemString(pyconf_namespace(), "Request");  // borrowed
  return PyObject_CallFunction(cls, "NNNNiONNi", str(r.method), str(r.target), str(r.path),
                               str(r.query), r.version_minor, headers.get(), str(x.url_scheme()),
                               str(x.remote_addr()), x.remote_port());
}

PyObject* make_response(const RecordingExchange& rec) {
  Ref headers(PyList_New(0));
  for (const auto& [name, value] : rec.headers_) {
    Ref pair(Py_BuildValue("(NN)", str(name), str(value)));
    if (!headers || !pair || PyList_Append(headers.get(), pair.get()) != 0) return nullptr;
  }
  const std::string& reason = rec.reason_;  // empty: the registry's, filled in by Response
  PyObject* cls = PyDict_GetItemString(pyconf_namespace(), "Response");  // borrowed
  return PyObject_CallFunction(cls, "iNOK", rec.status_, str(reason), headers.get(),
                               static_cast<unsigned long long>(rec.sent_));
}

class HookedApp final : public app::App {
 public:
  HookedApp(app::App* inner, const app::HookWorker& worker, const config::Settings& cfg)
      : inner_(inner), worker_info_(worker), cfg_(cfg) {}
  // Python objects are never released: the interpreter may be gone by then.
  ~HookedApp() override = default;

  bool worker_start(std::string* error) override { return inner_->worker_start(error); }
  void worker_stop() override { inner_->worker_stop(); }
  bool thread_safe() const override { return inner_->thread_safe(); }
  bool thread_start(int index, std::string* error) override {
    return inner_->thread_start(index, error);
  }
  void thread_stop() override { inner_->thread_stop(); }
  std::vector<std::string> source_files() override { return inner_->source_files(); }

  bool handle(app::Exchange& x) override {
    RecordingExchange rec(x);
    PyGILState_STATE gil = PyGILState_Ensure();
    Ref req(make_request(x));
    if (!req) spdlog::error("pre_request: cannot describe the request: {}", format_exception());
    PyObject* worker = req ? this->worker() : nullptr;
    if (worker != nullptr && pre_) call_hook("pre_request", PyTuple_Pack(2, worker, req.get()));
    PyGILState_Release(gil);
    bool ok = inner_->handle(rec);
    if (worker == nullptr || !post_) {
      if (req) {
        gil = PyGILState_Ensure();
        req = Ref();
        PyGILState_Release(gil);
      }
      return ok;
    }
    gil = PyGILState_Ensure();
    {
      Ref environ(PyObject_CallMethod(req.get(), "environ", nullptr));
      Ref resp(environ ? make_response(rec) : nullptr);
      if (!resp) {
        spdlog::error("post_request: cannot describe the response: {}", format_exception());
      } else {
        call_hook("post_request", PyTuple_Pack(4, worker, req.get(), environ.get(), resp.get()));
      }
    }
    req = Ref();
    PyGILState_Release(gil);
    return ok;
  }

 private:
  // The worker stand-in, made on first use (under the GIL).
  PyObject* worker() {
    if (worker_ == nullptr) {
      Ref cfg(make_cfg(cfg_));
      worker_ = cfg ? make_worker(worker_info_, cfg.get()) : nullptr;
      if (worker_ == nullptr) spdlog::error("request hooks: {}", format_exception());
    }
    return worker_;
  }

  std::unique_ptr<app::App> inner_;
  app::HookWorker worker_info_;
  const config::Settings& cfg_;  // the worker's, which outlives its app
  PyObject* worker_ = nullptr;
  const bool pre_ = hook_defined("pre_request");
  const bool post_ = hook_defined("post_request");
};

}  // namespace

app::App* new_hooked_app(app::App* inner, const app::HookWorker& worker,
                         const config::Settings& cfg) {
  return new HookedApp(inner, worker, cfg);
}

}  // namespace cppicorn::wsgi
