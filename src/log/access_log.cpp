// The access log: gunicorn's format language compiled once into atoms, rendered per request
// into a reused buffer that is written out in large O_APPEND writes.
//
// Values follow gunicorn's glogging.atoms(): strings have '"' escaped as \", a missing value
// or an unknown atom renders "-", {name}i/o/e lookups are case-insensitive. Beyond gunicorn,
// control characters in values are written as \xHH so that a line is always one line.
#include "log/access_log.h"

#include <fcntl.h>
#include <limits.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

#include "log/access_format.h"
#include "log/text.h"

namespace cppicorn::log {
namespace {

using text::append_basic_user;
using text::append_decoded_path;
using text::append_escaped;
using text::append_number;
using text::iequals;

constexpr size_t kFlushAt = size_t{32} * 1024;  // write the buffer out beyond this many bytes

// The last header with this name, like gunicorn's dict of headers; `name` is lower-case.
const std::string_view* find_header(std::span<const http::Header> headers, std::string_view name) {
  const std::string_view* found = nullptr;
  for (const http::Header& h : headers) {
    if (iequals(h.name, name)) found = &h.value;
  }
  return found;
}

// The value of the last `lower_name:` line in "Name: value\r\n" lines, or null.
std::optional<std::string_view> find_field(std::string_view fields, std::string_view lower_name) {
  std::optional<std::string_view> found;
  while (!fields.empty()) {
    size_t end = fields.find("\r\n");
    std::string_view line = fields.substr(0, end);
    fields.remove_prefix(end == std::string_view::npos ? fields.size() : end + 2);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), lower_name)) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      found = value;
    }
  }
  return found;
}

std::span<const http::Header> request_headers(const AccessEntry& e) {
  if (e.request == nullptr) return {};
  return e.request->headers;
}

void append_value(std::string& out, std::string_view s) {
  if (s.empty()) {
    out.push_back('-');
  } else {
    append_escaped(out, s);
  }
}

// Writes all of data; on a pipe or socket in pieces of at most PIPE_BUF cut at line ends,
// so that lines from several workers sharing stdout do not interleave.
void write_out(int fd, bool regular, const char* data, size_t size) {
  while (size > 0) {
    size_t piece = size;
    if (!regular && piece > PIPE_BUF) {
      size_t cut = std::string_view(data, PIPE_BUF).rfind('\n');
      piece = (cut == std::string_view::npos) ? PIPE_BUF : cut + 1;
    }
    ssize_t n = ::write(fd, data, piece);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // disk full, reader gone: drop the lines rather than stall the worker
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

// The compiled format, the output descriptor, and the line buffer with its kept capacity.
// Everything a request touches is allocated once, at create() and open().
struct AccessLog::Impl {
  std::vector<Atom> atoms;
  std::string path;
  int fd = -1;
  bool owns_fd = false;  // false for stdout
  bool regular = true;   // a regular file: one write(2) per flush is atomic with O_APPEND
  uid_t uid = static_cast<uid_t>(-1);  // owner given by set_owner(), applied on (re)open
  gid_t gid = static_cast<gid_t>(-1);
  std::string buffer;
  // [date] of the last rendered second; render() is const but single-threaded per worker.
  mutable time_t date_second = -1;
  mutable char date[40] = {};
  mutable size_t date_len = 0;

  void append_date(std::string& out, std::chrono::system_clock::time_point when) const {
    if (when.time_since_epoch().count() == 0) when = std::chrono::system_clock::now();
    time_t secs = std::chrono::system_clock::to_time_t(when);
    if (secs != date_second) {
      struct tm tm {};
      localtime_r(&secs, &tm);
      date_len = std::strftime(date, sizeof date, "[%d/%b/%Y:%H:%M:%S %z]", &tm);
      date_second = secs;
    }
    out.append(date, date_len);
  }

  bool open_fd(std::string* error) {
    int new_fd = STDOUT_FILENO;
    if (path != "-") {
      new_fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      if (new_fd < 0) {
        if (error) *error = path + ": " + std::strerror(errno);
        return false;
      }
    }
    close_fd();
    fd = new_fd;
    owns_fd = path != "-";
    struct stat st {};
    regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    chown_file();
    return true;
  }

  void chown_file() {
    if (!owns_fd || uid == static_cast<uid_t>(-1) || ::geteuid() != 0) return;
    [[maybe_unused]] int rc = ::fchown(fd, uid, gid);  // e.g. /dev/null: fine as it is
  }

  void close_fd() {
    if (owns_fd) ::close(fd);
    fd = -1;
    owns_fd = false;
  }
};

AccessLog::AccessLog() : impl_(std::make_unique<Impl>()) {}

AccessLog::~AccessLog() {
  flush();
  impl_->close_fd();
}

std::unique_ptr<AccessLog> AccessLog::create(std::string_view format, std::string* error) {
  std::unique_ptr<AccessLog> log(new AccessLog());
  auto atoms = compile_access_format(format, error);
  if (!atoms) return nullptr;
  log->impl_->atoms = std::move(*atoms);
  log->impl_->buffer.reserve(2 * kFlushAt);
  return log;
}

bool AccessLog::open(const std::string& path, std::string* error) {
  flush();
  impl_->path = path;
  return impl_->open_fd(error);
}

void AccessLog::render(const AccessEntry& e, std::string& out) const {
  const http::Request* req = e.request;
  const uint64_t us = static_cast<uint64_t>(std::max<int64_t>(e.duration.count(), 0));
  for (const Atom& atom : impl_->atoms) {
    switch (atom.kind) {
      case AtomKind::kLiteral:
        out.append(atom.text);
        break;
      case AtomKind::kRemoteAddr:
        append_value(out, e.remote_addr);
        break;
      case AtomKind::kTlsProtocol:
        append_value(out, e.tls_protocol);
        break;
      case AtomKind::kTlsCipher:
        append_value(out, e.tls_cipher);
        break;
      case AtomKind::kDash:
      case AtomKind::kUnknown:
        out.push_back('-');
        break;
      case AtomKind::kUser: {
        const std::string_view* auth = find_header(request_headers(e), "authorization");
        if (auth == nullptr || !append_basic_user(out, *auth)) out.push_back('-');
        break;
      }
      case AtomKind::kTime:
        impl_->append_date(out, e.start);
        break;
      case AtomKind::kRequestLine:
        if (!e.request_line.empty() || req == nullptr) {
          append_value(out, e.request_line);
        } else {
          append_escaped(out, req->method);
          out.push_back(' ');
          append_escaped(out, req->target);
          out.append(req->version_minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
        }
        break;
      case AtomKind::kMethod:
        append_value(out, req ? req->method : std::string_view());
        break;
      case AtomKind::kTarget:
        append_value(out, req ? req->target : std::string_view());
        break;
      case AtomKind::kPath:
        append_decoded_path(out, req ? req->path : std::string_view());
        break;
      case AtomKind::kQuery:
        // gunicorn's QUERY_STRING is "" when absent, which renders as nothing, not "-".
        if (req) append_escaped(out, req->query);
        break;
      case AtomKind::kProtocol:
        if (req == nullptr) {
          out.push_back('-');
        } else {
          out.append(req->version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
        }
        break;
      case AtomKind::kStatus:
        append_number(out, static_cast<uint64_t>(std::max(e.status, 0)));
        break;
      case AtomKind::kBytes:
      case AtomKind::kBytesClf:
        // gunicorn prints resp.sent for both, "0" included; "-" only when nothing was sent.
        if (e.status == 0 && atom.kind == AtomKind::kBytesClf) {
          out.push_back('-');
        } else {
          append_number(out, e.body_bytes);
        }
        break;
      case AtomKind::kSeconds:
        append_number(out, us / 1000000);
        break;
      case AtomKind::kMillis:
        append_number(out, us / 1000);
        break;
      case AtomKind::kMicros:
        append_number(out, us);
        break;
      case AtomKind::kDecimalSeconds: {
        append_number(out, us / 1000000);
        char frac[8] = {'.', '0', '0', '0', '0', '0', '0', '0'};
        uint64_t f = us % 1000000;
        for (int i = 6; i >= 1; --i, f /= 10) frac[i] = static_cast<char>('0' + f % 10);
        out.append(frac, 7);
        break;
      }
      case AtomKind::kPid:
        out.push_back('<');
        append_number(out, static_cast<uint64_t>(::getpid()));  // right after fork, too
        out.push_back('>');
        break;
      case AtomKind::kRequestHeader: {
        const std::string_view* value = find_header(request_headers(e), atom.text);
        if (value == nullptr) {
          out.push_back('-');
        } else {
          append_escaped(out, *value);
        }
        break;
      }
      case AtomKind::kResponseHeader: {
        std::optional<std::string_view> value = find_field(e.response_fields, atom.text);
        if (!value) {
          out.push_back('-');
        } else {
          append_escaped(out, *value);
        }
        break;
      }
      case AtomKind::kEnv: {
        const char* value = std::getenv(atom.text.c_str());
        if (value == nullptr) value = std::getenv(atom.alt.c_str());
        append_value(out, value ? std::string_view(value) : std::string_view());
        break;
      }
    }
  }
}

void AccessLog::log(const AccessEntry& entry) {
  std::string& buffer = impl_->buffer;
  size_t mark = buffer.size();
  try {
    render(entry, buffer);
    buffer.push_back('\n');
  } catch (...) {
    buffer.resize(mark);  // out of memory: lose this line, keep serving
    return;
  }
  if (buffer.size() >= kFlushAt) flush();
}

void AccessLog::flush() {
  std::string& buffer = impl_->buffer;
  if (buffer.empty()) return;
  if (impl_->fd >= 0) write_out(impl_->fd, impl_->regular, buffer.data(), buffer.size());
  buffer.clear();  // keeps its capacity
}

void AccessLog::reopen() {
  flush();
  if (impl_->path.empty() || impl_->path == "-") return;
  std::string error;
  if (!impl_->open_fd(&error)) spdlog::error("cannot reopen the access log: {}", error);
}

void AccessLog::set_owner(uid_t uid, gid_t gid) {
  impl_->uid = uid;
  impl_->gid = gid;
  impl_->chown_file();
}

}  // namespace cppicorn::log
