#include "app/host_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "version/version.h"

namespace cppicorn::app {
namespace {

Exchange& ex(const cppicorn_request* r) {
  return *reinterpret_cast<Exchange*>(const_cast<cppicorn_request*>(r));
}
Exchange& ex(cppicorn_response* r) { return *reinterpret_cast<Exchange*>(r); }
cppicorn_str str(std::string_view s) { return {s.data(), s.size()}; }
const http::Request& req(const cppicorn_request* r) { return ex(r).request(); }

cppicorn_str method(const cppicorn_request* r) { return str(req(r).method); }
cppicorn_str target(const cppicorn_request* r) { return str(req(r).target); }
cppicorn_str path(const cppicorn_request* r) { return str(req(r).path); }
cppicorn_str query(const cppicorn_request* r) { return str(req(r).query); }
int version_minor(const cppicorn_request* r) { return req(r).version_minor; }
size_t header_count(const cppicorn_request* r) { return req(r).headers.size(); }
cppicorn_header header_at(const cppicorn_request* r, size_t i) {
  const auto& headers = req(r).headers;
  if (i >= headers.size()) return {{nullptr, 0}, {nullptr, 0}};
  return {str(headers[i].name), str(headers[i].value)};
}
cppicorn_str find_header(const cppicorn_request* r, cppicorn_str name) {
  const http::Header* h = req(r).find({name.data, name.size});
  if (h == nullptr) return {nullptr, 0};
  // An empty value must still read as present: point at the name, size 0.
  return h->value.empty() ? cppicorn_str{h->name.data(), 0} : str(h->value);
}
cppicorn_str remote_addr(const cppicorn_request* r) { return str(ex(r).remote_addr()); }
int remote_port(const cppicorn_request* r) { return ex(r).remote_port(); }
cppicorn_str url_scheme(const cppicorn_request* r) { return str(ex(r).url_scheme()); }
int64_t content_length(const cppicorn_request* r) {
  const http::Request& q = req(r);
  if (q.body == http::BodyKind::kChunked) return -1;
  return q.body == http::BodyKind::kLength ? static_cast<int64_t>(q.content_length) : 0;
}
int64_t read_body(cppicorn_request* r, void* buf, size_t len) { return ex(r).read_body(buf, len); }
void set_status(cppicorn_response* r, int status) { ex(r).set_status(status); }
int set_reason(cppicorn_response* r, cppicorn_str reason) {
  return ex(r).set_reason({reason.data, reason.size}) ? 0 : -1;
}
void add_header(cppicorn_response* r, cppicorn_str n, cppicorn_str v) {
  ex(r).add_header({n.data, n.size}, {v.data, v.size});
}
void write(cppicorn_response* r, const void* d, size_t n) { ex(r).write(d, n); }
int stream(cppicorn_response* r, const void* d, size_t n) { return ex(r).stream(d, n); }
int send_file(cppicorn_response* r, int fd, int64_t off, int64_t len) {
  return ex(r).send_file(fd, off, len);
}
void log(int level, cppicorn_str m) {
  static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::info,
                                                          spdlog::level::warn, spdlog::level::err,
                                                          spdlog::level::critical};
  spdlog::log(kLevels[std::clamp(level, 0, 4)], "{}", std::string_view(m.data, m.size));
}

cppicorn_str server_version() { return str(version()); }
cppicorn_str tls_var(const cppicorn_request* r, cppicorn_str name) {
  return str(ex(r).tls_var({name.data, name.size}));
}

constexpr cppicorn_host kHost = {CPPICORN_ABI_VERSION,
                                 sizeof(cppicorn_host),
                                 method,
                                 target,
                                 path,
                                 query,
                                 version_minor,
                                 header_count,
                                 header_at,
                                 find_header,
                                 remote_addr,
                                 remote_port,
                                 url_scheme,
                                 content_length,
                                 read_body,
                                 set_status,
                                 add_header,
                                 write,
                                 stream,
                                 send_file,
                                 log,
                                 server_version,
                                 tls_var,
                                 set_reason};

}  // namespace

const cppicorn_host* host_api() { return &kHost; }

}  // namespace cppicorn::app
