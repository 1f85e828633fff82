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

#include "log/text.h"

namespace cppicorn::log {
namespace {

using text::append_basic_user;
using text::append_decoded_path;
using text::append_escaped;
using text::append_number;
using text::iequals;
using text::lower;

constexpr size_t kFlushAt = size_t{32} * 1024;  // write the buffer out beyond this many bytes

// clang-format off
enum class Kind : uint8_t {
  kLiteral, kRemoteAddr, kDash, kUser, kTime, kRequestLine, kMethod, kPath, kQuery, kProtocol,
  kStatus, kBytes, kBytesClf, kSeconds, kMillis, kMicros, kDecimalSeconds, kPid,
  kRequestHeader, kResponseHeader, kEnv, kTarget, kUnknown
};
// clang-format on

// One compiled piece of the format: literal text, or a value to look up.
// `text` is the literal, the lower-case header name, or the environment variable name;
// `alt` the variable's upper-case name, tried next (gunicorn's environ keys ignore case).
struct Atom {
  Kind kind = Kind::kUnknown;
  std::string text = {};
  std::string alt = {};
};

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

// Maps the WSGI environ names gunicorn's {var}e sees onto the request; others are getenv().
Atom env_atom(const std::string& name) {
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "REMOTE_ADDR") return {Kind::kRemoteAddr, {}};
  if (upper == "REQUEST_METHOD") return {Kind::kMethod, {}};
  if (upper == "PATH_INFO") return {Kind::kPath, {}};
  if (upper == "QUERY_STRING") return {Kind::kQuery, {}};
  if (upper == "RAW_URI") return {Kind::kTarget, {}};
  if (upper == "SERVER_PROTOCOL") return {Kind::kProtocol, {}};
  if (upper.starts_with("HTTP_") && upper.size() > 5) {
    std::string header = name.substr(5);
    for (char& c : header) c = (c == '_') ? '-' : lower(c);
    return {Kind::kRequestHeader, header};
  }
  return {Kind::kEnv, name, upper};
}

// gunicorn's one-letter atoms; f and a are request headers.
struct Letter {
  char letter;
  Kind kind;
  const char* header;
};
constexpr Letter kLetters[] = {
    {'h', Kind::kRemoteAddr, ""},
    {'l', Kind::kDash, ""},
    {'u', Kind::kUser, ""},
    {'t', Kind::kTime, ""},
    {'r', Kind::kRequestLine, ""},
    {'m', Kind::kMethod, ""},
    {'U', Kind::kPath, ""},
    {'q', Kind::kQuery, ""},
    {'H', Kind::kProtocol, ""},
    {'s', Kind::kStatus, ""},
    {'B', Kind::kBytes, ""},
    {'b', Kind::kBytesClf, ""},
    {'f', Kind::kRequestHeader, "referer"},
    {'a', Kind::kRequestHeader, "user-agent"},
    {'T', Kind::kSeconds, ""},
    {'M', Kind::kMillis, ""},
    {'D', Kind::kMicros, ""},
    {'L', Kind::kDecimalSeconds, ""},
    {'p', Kind::kPid, ""},
};

Atom compile_atom(const std::string& name) {
  if (name.size() >= 3 && name.front() == '{') {
    size_t close = name.find('}');
    if (close != std::string::npos && close + 2 == name.size()) {
      std::string key = name.substr(1, close - 1);
      char type = name.back();
      if (type == 'e') return env_atom(key);
      for (char& c : key) c = lower(c);
      if (type == 'i') return {Kind::kRequestHeader, key};
      if (type == 'o') return {Kind::kResponseHeader, key};
    }
    return {Kind::kUnknown, {}};
  }
  if (name.size() != 1) return {Kind::kUnknown, {}};
  for (const auto& [letter, kind, header] : kLetters) {
    if (letter == name[0]) return {kind, header};
  }
  return {Kind::kUnknown, {}};
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
  std::vector<Atom>& atoms = log->impl_->atoms;
  auto literal = [&](std::string_view text) {
    if (atoms.empty() || atoms.back().kind != Kind::kLiteral) atoms.push_back({Kind::kLiteral, {}});
    atoms.back().text.append(text);
  };
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      literal(format.substr(i, 1));
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '%') {
      literal("%");
      ++i;
      continue;
    }
    // Python's "%(name)s": the name runs to the first ')'; "s" or "d" converts it.
    size_t close = format.find(')', i);
    if (i + 1 >= format.size() || format[i + 1] != '(' || close == std::string_view::npos ||
        close + 1 >= format.size() || (format[close + 1] != 's' && format[close + 1] != 'd')) {
      if (error)
        *error =
            "bad access log format at offset " + std::to_string(i) + ": expected %(name)s or %%";
      return nullptr;
    }
    atoms.push_back(compile_atom(std::string(format.substr(i + 2, close - i - 2))));
    i = close + 1;
  }
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
      case Kind::kLiteral:
        out.append(atom.text);
        break;
      case Kind::kRemoteAddr:
        append_value(out, e.remote_addr);
        break;
      case Kind::kDash:
      case Kind::kUnknown:
        out.push_back('-');
        break;
      case Kind::kUser: {
        const std::string_view* auth = find_header(request_headers(e), "authorization");
        if (auth == nullptr || !append_basic_user(out, *auth)) out.push_back('-');
        break;
      }
      case Kind::kTime:
        impl_->append_date(out, e.start);
        break;
      case Kind::kRequestLine:
        if (!e.request_line.empty() || req == nullptr) {
          append_value(out, e.request_line);
        } else {
          append_escaped(out, req->method);
          out.push_back(' ');
          append_escaped(out, req->target);
          out.append(req->version_minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
        }
        break;
      case Kind::kMethod:
        append_value(out, req ? req->method : std::string_view());
        break;
      case Kind::kTarget:
        append_value(out, req ? req->target : std::string_view());
        break;
      case Kind::kPath:
        append_decoded_path(out, req ? req->path : std::string_view());
        break;
      case Kind::kQuery:
        // gunicorn's QUERY_STRING is "" when absent, which renders as nothing, not "-".
        if (req) append_escaped(out, req->query);
        break;
      case Kind::kProtocol:
        if (req == nullptr) {
          out.push_back('-');
        } else {
          out.append(req->version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
        }
        break;
      case Kind::kStatus:
        append_number(out, static_cast<uint64_t>(std::max(e.status, 0)));
        break;
      case Kind::kBytes:
      case Kind::kBytesClf:
        // gunicorn prints resp.sent for both, "0" included; "-" only when nothing was sent.
        if (e.status == 0 && atom.kind == Kind::kBytesClf) {
          out.push_back('-');
        } else {
          append_number(out, e.body_bytes);
        }
        break;
      case Kind::kSeconds:
        append_number(out, us / 1000000);
        break;
      case Kind::kMillis:
        append_number(out, us / 1000);
        break;
      case Kind::kMicros:
        append_number(out, us);
        break;
      case Kind::kDecimalSeconds: {
        append_number(out, us / 1000000);
        char frac[8] = {'.', '0', '0', '0', '0', '0', '0', '0'};
        uint64_t f = us % 1000000;
        for (int i = 6; i >= 1; --i, f /= 10) frac[i] = static_cast<char>('0' + f % 10);
        out.append(frac, 7);
        break;
      }
      case Kind::kPid:
        out.push_back('<');
        append_number(out, static_cast<uint64_t>(::getpid()));  // right after fork, too
        out.push_back('>');
        break;
      case Kind::kRequestHeader: {
        const std::string_view* value = find_header(request_headers(e), atom.text);
        if (value == nullptr) {
          out.push_back('-');
        } else {
          append_escaped(out, *value);
        }
        break;
      }
      case Kind::kResponseHeader: {
        std::optional<std::string_view> value = find_field(e.response_fields, atom.text);
        if (!value) {
          out.push_back('-');
        } else {
          append_escaped(out, *value);
        }
        break;
      }
      case Kind::kEnv: {
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
