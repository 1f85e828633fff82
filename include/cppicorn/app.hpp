// cppicorn/app.hpp: the header-only C++ layer over the native app ABI (<cppicorn/app.h>), C++20.
//
//   #include <cppicorn/app.hpp>
//   void hello(cppicorn::Request&, cppicorn::Response& res) {
//     res.header("Content-Type", "text/plain");
//     res.write("Hello, World!\n");
//   }
//   CPPICORN_EXPORT_HANDLER(app, hello)        // served as `hello:app`
//
// A class with per-worker state works too: it is constructed in each worker after fork and
// destroyed when the worker stops, and its exceptions become 500 responses.
//
//   struct Api { Api() { /* connect */ } void operator()(cppicorn::Request&, cppicorn::Response&);
//   }; CPPICORN_EXPORT_APP(app, Api)
//
// An app whose handler may run on several threads at once (--threads) says so with a third
// argument, CPPICORN_APP_THREAD_SAFE; a class may then also have thread_start() and
// thread_stop() members, called on each of the worker's threads (a connection per thread):
//
//   CPPICORN_EXPORT_HANDLER(app, hello, CPPICORN_APP_THREAD_SAFE)
#ifndef CPPICORN_APP_HPP_
#define CPPICORN_APP_HPP_

#include <cppicorn/app.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cppicorn {

inline std::string_view view(cppicorn_str s) { return {s.data, s.size}; }
inline cppicorn_str str(std::string_view s) { return {s.data(), s.size()}; }

// The server's version ("" from a server older than the server_version member).
inline std::string_view server_version(const cppicorn_host* host) {
  if (host->size < offsetof(cppicorn_host, server_version) + sizeof host->server_version) return {};
  return view(host->server_version());
}

// One HTTP request, valid for the duration of the handler call.
class Request {
 public:
  Request(const cppicorn_host* host, cppicorn_request* req) : host_(host), req_(req) {}

  std::string_view method() const { return view(host_->method(req_)); }
  std::string_view target() const { return view(host_->target(req_)); }
  std::string_view path() const { return view(host_->path(req_)); }
  std::string_view query() const { return view(host_->query(req_)); }
  int version_minor() const { return host_->version_minor(req_); }
  std::string_view remote_addr() const { return view(host_->remote_addr(req_)); }
  int remote_port() const { return host_->remote_port(req_); }
  std::string_view url_scheme() const { return view(host_->url_scheme(req_)); }
  // TLS details by name ("SSL_PROTOCOL", "SSL_CLIENT_S_DN", ...; see app.h); empty when the
  // connection is not TLS or the server predates them.
  std::string_view tls_var(std::string_view name) const {
    if (host_->size <= offsetof(cppicorn_host, tls_var)) return {};
    return view(host_->tls_var(req_, str(name)));
  }
  // The server running this app, e.g. "0.1.0".
  std::string_view server_version() const { return cppicorn::server_version(host_); }

  size_t header_count() const { return host_->header_count(req_); }
  std::string_view header_name(size_t i) const { return view(host_->header_at(req_, i).name); }
  std::string_view header_value(size_t i) const { return view(host_->header_at(req_, i).value); }
  // The first field with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const {
    cppicorn_str v = host_->find_header(req_, str(name));
    if (v.data == nullptr) return std::nullopt;
    return view(v);
  }

  // -1 when the body is chunked.
  int64_t content_length() const { return host_->content_length(req_); }
  // Up to len bytes of the body; 0 at its end; -1 when it cannot be read.
  int64_t read(void* buf, size_t len) { return host_->read_body(req_, buf, len); }
  // The whole body (throws when it cannot be read).
  std::string read_all() {
    std::string body;
    char buf[16384];
    for (;;) {
      int64_t n = read(buf, sizeof buf);
      if (n < 0) throw std::runtime_error("request body could not be read");
      if (n == 0) return body;
      body.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  const cppicorn_host* host_;
  cppicorn_request* req_;
};

// The response being built for one request.
class Response {
 public:
  Response(const cppicorn_host* host, cppicorn_response* resp) : host_(host), resp_(resp) {}

  Response& status(int code) {
    host_->set_status(resp_, code);
    return *this;
  }
  // Status and reason phrase ("299 Custom Reason"). Throws std::invalid_argument when the
  // phrase holds a control character, std::runtime_error when the server predates phrases.
  Response& status(int code, std::string_view reason) {
    host_->set_status(resp_, code);
    if (host_->size < offsetof(cppicorn_host, set_reason) + sizeof host_->set_reason) {
      throw std::runtime_error("this cppicorn cannot set a reason phrase (older than 0.2)");
    }
    if (host_->set_reason(resp_, str(reason)) != 0) {
      throw std::invalid_argument("reason phrase with a control character");
    }
    return *this;
  }
  Response& header(std::string_view name, std::string_view value) {
    host_->add_header(resp_, str(name), str(value));
    return *this;
  }
  // Buffered body: sent with a Content-Length once the handler returns.
  Response& write(std::string_view data) {
    host_->write(resp_, data.data(), data.size());
    return *this;
  }
  // Streamed body: the head goes out on the first call, each call sends one chunk.
  bool stream(std::string_view data) { return host_->stream(resp_, data.data(), data.size()) == 0; }
  // File body, sent with sendfile; takes ownership of fd.
  bool send_file(int fd, int64_t offset, int64_t len) {
    return host_->send_file(resp_, fd, offset, len) == 0;
  }
  // The whole regular file at path; false (and nothing sent) when it cannot be opened.
  bool send_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return false;
    }
    return send_file(fd, 0, st.st_size);
  }

 private:
  const cppicorn_host* host_;
  cppicorn_response* resp_;
};

// Writes one line to the server's error log.
inline void log(const cppicorn_host* host, int level, std::string_view message) {
  host->log(level, str(message));
}

namespace detail {

// Adapts a C++ app type to the C ABI. One instance per worker process, created at worker
// start (after fork) so that it can own connections, threads and files.
template <typename App>
struct Adapter {
  static inline App* instance = nullptr;
  static inline const cppicorn_host* host = nullptr;

  static int start(void*, const cppicorn_host* h) {
    host = h;
    try {
      instance = new App();
      return 0;
    } catch (const std::exception& e) {
      log(h, CPPICORN_LOG_ERROR, std::string("app failed to start: ") + e.what());
      return 1;
    } catch (...) {
      log(h, CPPICORN_LOG_ERROR, "app failed to start: a non-standard exception");
      return 1;
    }
  }
  static void stop(void*) {
    delete instance;
    instance = nullptr;
  }
  static int handle(void*, const cppicorn_host* h, cppicorn_request* req, cppicorn_response* resp) {
    if (instance == nullptr && start(nullptr, h) != 0) return 1;
    Request request(h, req);
    Response response(h, resp);
    try {
      (*instance)(request, response);
      return 0;
    } catch (const std::exception& e) {
      log(h, CPPICORN_LOG_ERROR, std::string("app raised: ") + e.what());
    } catch (...) {
      log(h, CPPICORN_LOG_ERROR, "app raised a non-standard exception");
    }
    return 1;
  }
  // Per-thread hooks, for a class that has thread_start() / thread_stop() members.
  static int thread_start(void*, const cppicorn_host* h) {
    try {
      if constexpr (requires(App & a) { a.thread_start(); }) instance->thread_start();
      return 0;
    } catch (const std::exception& e) {
      log(h, CPPICORN_LOG_ERROR, std::string("app thread failed to start: ") + e.what());
    } catch (...) {
      log(h, CPPICORN_LOG_ERROR, "app thread failed to start: a non-standard exception");
    }
    return 1;
  }
  static void thread_stop(void*) {
    if constexpr (requires(App & a) { a.thread_stop(); }) {
      if (instance != nullptr) instance->thread_stop();
    }
  }
  static constexpr cppicorn_app make(uint32_t flags) {
    constexpr bool hooks = requires(App & a) { a.thread_start(); }
    || requires(App & a) { a.thread_stop(); };
    return cppicorn_app{CPPICORN_ABI_VERSION,
                        sizeof(cppicorn_app),
                        nullptr,
                        &start,
                        &stop,
                        &handle,
                        flags,
                        hooks ? &thread_start : nullptr,
                        hooks ? &thread_stop : nullptr};
  }
};

template <auto Fn>
struct FunctionApp {
  void operator()(Request& req, Response& res) { Fn(req, res); }
};

}  // namespace detail
}  // namespace cppicorn

// Exports `symbol` as an app built from a default-constructible callable type. An optional
// third argument gives CPPICORN_APP_* flags (CPPICORN_APP_THREAD_SAFE).
#define CPPICORN_EXPORT_APP(symbol, AppType, ...)                               \
  extern "C" __attribute__((visibility("default"))) const cppicorn_app symbol = \
      ::cppicorn::detail::Adapter<AppType>::make(0u __VA_OPT__(| __VA_ARGS__));

// Exports `symbol` as an app built from a function void(Request&, Response&); flags as above.
#define CPPICORN_EXPORT_HANDLER(symbol, function, ...) \
  CPPICORN_EXPORT_APP(symbol, ::cppicorn::detail::FunctionApp<&function> __VA_OPT__(, ) __VA_ARGS__)

#endif  // CPPICORN_APP_HPP_
