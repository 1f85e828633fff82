// The access log: one line per response, in gunicorn's format language, e.g.
//   %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"
// The format is compiled once into a list of atoms; lines are rendered into a buffer that is
// written out when it fills, once a second, and on reopen/close, so a request costs no syscall.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "http/parser.h"

namespace cppicorn::log {

// What one access-log line can draw on.
struct AccessEntry {
  const http::Request* request = nullptr;  // may be null for requests rejected while parsing
  std::string_view request_line;           // "GET /x HTTP/1.1" as received, or empty
  std::string_view remote_addr;            // IP, or "-" for unix sockets
  int status = 0;
  uint64_t body_bytes = 0;                      // response body bytes sent
  std::chrono::system_clock::time_point start;  // when the request head was complete
  std::chrono::microseconds duration{0};
  // The headers the app set, as sent: "Name: value\r\n" lines (Content-Length, Date,
  // Server and Connection are the server's own and not among them).
  std::string_view response_fields;
  // TLS version and cipher ("TLSv1.3", "TLS_AES_256_GCM_SHA384"); empty for plain HTTP.
  std::string_view tls_protocol;
  std::string_view tls_cipher;
};

// One access log per worker, used from its event loop only (not thread-safe: render() caches
// the [date] of the current second). create(), open(), then log(); flush() once a second.
class AccessLog {
 public:
  // Compiles `format`; on a bad format returns null and sets *error.
  static std::unique_ptr<AccessLog> create(std::string_view format, std::string* error);
  ~AccessLog();

  // Opens `path` for appending ("-" is stdout). Returns false with *error on failure.
  bool open(const std::string& path, std::string* error);
  // Renders one line into the buffer (flushes first if the buffer is full).
  void log(const AccessEntry& entry);
  // Renders one line into `out` without writing it (tests, and log()).
  void render(const AccessEntry& entry, std::string& out) const;
  void flush();
  // Flushes, then reopens the same path (USR1, after logrotate moved the file).
  void reopen();
  // Makes the file owned by uid:gid now and after every reopen() (see log::set_owner).
  void set_owner(uid_t uid, gid_t gid);

 private:
  AccessLog();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cppicorn::log
