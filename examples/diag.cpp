// diag: a diagnostic app that the integration tests and benchmarks steer by path and query,
// served as `diag:app`. Routes (every text body ends with "\n"):
//   /, /hello            Hello, World!
//   /pid                 this worker's pid
//   /version             the server's version (also in X-Server-Version)
//   /started             "1" when worker_start ran in this process, else "0"
//   /sleep?ms=N          sleeps N ms, then "slept N"
//   /wedge               never returns (the worker timeout must kill it)
//   /crash               dies of SIGSEGV
//   /throw               throws std::runtime_error("diag throw") (the server answers 500)
//   /status?code=N[&reason=R]  status N (phrase R), body "status N" (none for 1xx, 204, 304);
//                        a phrase the server refuses (a control character) gives 400 "bad reason"
//   /echo                the request as JSON (see echo()), with the TLS variables under "tls"
//   /body                the request body, as application/octet-stream
//   /stream?chunks=N&size=M&ms=D   N streamed chunks of M 'x', D ms apart
//   /bytes?n=N           a buffered body of N 'x'
//   /file?path=P         the file P via sendfile, 404 if it cannot be opened
//   /header?name=X&value=Y         adds the response header X: Y, body "ok"
//   /fork                forks a child that sends itself SIGTERM (and _exits 0 if it lives
//                        on), waits for it: "signal 15" or "exit N" (how the child ended)
//   /barrier?n=N&ms=T    waits until N requests are in /barrier at once, then all N answer
//                        "released"; 503 "barrier timeout" after T ms (default 10000). N
//                        requests pass only when the worker runs N calls at once (threads).
//   /threads             how many pool threads ran thread_start in this worker
// Anything else is 404 "not found". Query values are percent-decoded, '+' is a space.
//
// Environment: DIAG_FAIL_START=1 makes worker_start fail (the server must exit 4);
// DIAG_FAIL_THREAD=1 makes thread_start fail; DIAG_STOP_FILE=path makes worker_stop append
// "stop <pid>\n" to path, and each thread_stop "thread-stop <pid>\n".
//
// Thread-safe (exported with CPPICORN_APP_THREAD_SAFE): routes share nothing but the
// barrier, which has its own lock.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cppicorn/app.hpp>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace {

bool g_started = false;                 // worker_start ran in this process
std::atomic<int> g_threads_started{0};  // thread_start calls in this process

// One line appended to $DIAG_STOP_FILE, if set (one write on O_APPEND: lines never mix).
void note_stop(const char* what) {
  const char* path = std::getenv("DIAG_STOP_FILE");
  if (path == nullptr || *path == '\0') return;
  int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string line = std::string(what) + " " + std::to_string(::getpid()) + "\n";
  [[maybe_unused]] ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The first value of `name` in an application/x-www-form-urlencoded query, decoded.
std::string query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string_view raw = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    std::string value;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        value += ' ';
      } else if (raw[i] == '%' && i + 2 < raw.size() && hex_digit(raw[i + 1]) >= 0 &&
                 hex_digit(raw[i + 2]) >= 0) {
        value += static_cast<char>(hex_digit(raw[i + 1]) * 16 + hex_digit(raw[i + 2]));
        i += 2;
      } else {
        value += raw[i];
      }
    }
    return value;
  }
  return {};
}

// An integer query parameter; `fallback` when absent or not a number.
long query_int(std::string_view query, std::string_view name, long fallback) {
  std::string text = query_param(query, name);
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return fallback;
  return value;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when the byte there does not start one.
size_t utf8_length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((at(i + k) & 0xc0) != 0x80) return 0;
  }
  unsigned char d = at(i + 1);  // overlong forms, surrogates, beyond U+10FFFF
  if ((c == 0xe0 && d < 0xa0) || (c == 0xed && d > 0x9f) || (c == 0xf0 && d < 0x90) ||
      (c == 0xf4 && d > 0x8f)) {
    return 0;
  }
  return n;
}

// Appends s as a JSON string. Control characters are \u00XX; valid UTF-8 passes through; a
// byte that is not part of valid UTF-8 becomes \u00XX too, i.e. it reads back as the Latin-1
// character of that byte (lossy, but a test can still recognise it).
void json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : utf8_length(s, i);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c != 0x7f && n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    } else {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    ++i;
  }
  out += '"';
}

// The per-worker app: constructed by worker_start after fork, destroyed by worker_stop.
// Stateless apart from that, so that every route behaves the same in every worker.
class Diag {
 public:
  Diag() {
    const char* fail = std::getenv("DIAG_FAIL_START");
    if (fail != nullptr && std::string_view(fail) == "1") {
      throw std::runtime_error("DIAG_FAIL_START=1");
    }
    g_started = true;
  }

  ~Diag() { note_stop("stop"); }

  // Per-thread hooks (threads > 1).
  void thread_start() {
    const char* fail = std::getenv("DIAG_FAIL_THREAD");
    if (fail != nullptr && std::string_view(fail) == "1") {
      throw std::runtime_error("DIAG_FAIL_THREAD=1");
    }
    ++g_threads_started;
  }
  void thread_stop() { note_stop("thread-stop"); }

  void operator()(cppicorn::Request& req, cppicorn::Response& res) {
    const std::string_view path = req.path();
    const std::string_view query = req.query();
    if (path == "/" || path == "/hello") return text(res, "Hello, World!\n");
    if (path == "/pid") return text(res, std::to_string(::getpid()) + "\n");
    if (path == "/version") {
      res.header("X-Server-Version", req.server_version());
      return text(res, std::string(req.server_version()) + "\n");
    }
    if (path == "/started") return text(res, g_started ? "1\n" : "0\n");
    if (path == "/sleep") {
      long ms = std::max(0L, query_int(query, "ms", 0));
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return text(res, "slept " + std::to_string(ms) + "\n");
    }
    if (path == "/wedge") {
      for (;;) ::pause();
    }
    if (path == "/crash") return crash();
    if (path == "/throw") throw std::runtime_error("diag throw");
    if (path == "/status") return status(query, res);
    if (path == "/echo") return echo(req, res);
    if (path == "/body") {
      std::string body = req.read_all();
      res.header("Content-Type", "application/octet-stream").write(body);
      return;
    }
    if (path == "/stream") return stream(query, res);
    if (path == "/bytes") return bytes(query, res);
    if (path == "/file") return file(query_param(query, "path"), res);
    if (path == "/fork") return fork_term(res);
    if (path == "/barrier") return barrier(query, res);
    if (path == "/threads") return text(res, std::to_string(g_threads_started.load()) + "\n");
    if (path == "/header") {
      std::string name = query_param(query, "name");
      if (name.empty()) return text(res.status(400), "name missing\n");
      res.header(name, query_param(query, "value"));
      return text(res, "ok\n");
    }
    text(res.status(404), "not found\n");
  }

 private:
  static void text(cppicorn::Response& res, std::string_view body) {
    res.header("Content-Type", "text/plain").write(body);
  }

  // Not instrumented by UBSan: the sanitizer build of the tests must see the real SIGSEGV.
  [[noreturn]] __attribute__((no_sanitize("undefined"))) static void crash() {
    // A real fault first: raise() could be blocked or caught, a bad access cannot be ignored.
    volatile int* volatile null = nullptr;
    *null = 1;
    ::raise(SIGSEGV);
    std::abort();
  }

  // A forked child must start with default signal dispositions: its own TERM ends it and
  // reaches nothing else.
  static void fork_term(cppicorn::Response& res) {
    pid_t pid = ::fork();
    if (pid < 0) return text(res.status(500), "fork failed\n");
    if (pid == 0) {
      ::kill(::getpid(), SIGTERM);
      ::sleep(1);  // a handled TERM returns here; a default one has ended the child
      ::_exit(0);
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    text(res, WIFSIGNALED(st) ? "signal " + std::to_string(WTERMSIG(st)) + "\n"
                              : "exit " + std::to_string(WEXITSTATUS(st)) + "\n");
  }

  static void status(std::string_view query, cppicorn::Response& res) {
    long code = query_int(query, "code", 200);
    if (code < 100 || code > 999) return text(res.status(400), "bad code\n");
    std::string reason = query_param(query, "reason");
    if (reason.empty()) {
      res.status(static_cast<int>(code));
    } else {
      try {
        res.status(static_cast<int>(code), reason);
      } catch (const std::invalid_argument&) {
        return text(res.status(400), "bad reason\n");
      }
    }
    // These statuses have no body (RFC 9110 6.4.1).
    if (code < 200 || code == 204 || code == 304) return;
    text(res, "status " + std::to_string(code) + "\n");
  }

  // {"method","target","path","query","version","remote_addr","remote_port","scheme",
  //  "content_length" (-1 when chunked),"headers":[[name,value],...],"body"}
  static void echo(cppicorn::Request& req, cppicorn::Response& res) {
    std::string body = req.read_all();
    std::string out = "{";
    auto field = [&](std::string_view name, std::string_view value) {
      json_string(out, name);
      out += ':';
      json_string(out, value);
      out += ',';
    };
    auto number = [&](std::string_view name, long long value) {
      json_string(out, name);
      out += ':' + std::to_string(value) + ',';
    };
    field("method", req.method());
    field("target", req.target());
    field("path", req.path());
    field("query", req.query());
    field("version", req.version_minor() == 0 ? "HTTP/1.0" : "HTTP/1.1");
    field("remote_addr", req.remote_addr());
    number("remote_port", req.remote_port());
    field("scheme", req.url_scheme());
    out += "\"tls\":{";
    bool first = true;
    for (std::string_view key : {"HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_CLIENT_VERIFY",
                                 "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN"}) {
      std::string_view v = req.tls_var(key);
      if (v.empty()) continue;
      if (!first) out += ',';
      first = false;
      json_string(out, key);
      out += ':';
      json_string(out, v);
    }
    out += "},";
    number("content_length", req.content_length());
    out += "\"headers\":[";
    for (size_t i = 0; i < req.header_count(); ++i) {
      if (i > 0) out += ',';
      out += '[';
      json_string(out, req.header_name(i));
      out += ',';
      json_string(out, req.header_value(i));
      out += ']';
    }
    out += "],";
    json_string(out, "body");
    out += ':';
    json_string(out, body);
    out += "}\n";
    res.header("Content-Type", "application/json").write(out);
  }

  static void stream(std::string_view query, cppicorn::Response& res) {
    long chunks = std::max(0L, query_int(query, "chunks", 1));
    long size = std::max(1L, query_int(query, "size", 1));
    long ms = std::max(0L, query_int(query, "ms", 0));
    std::string chunk(static_cast<size_t>(size), 'x');
    res.header("Content-Type", "text/plain");
    for (long i = 0; i < chunks; ++i) {
      if (i > 0 && ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      if (!res.stream(chunk)) return;  // client gone
    }
  }

  // A generation barrier: the Nth arrival releases the N-1 waiting before it.
  static void barrier(std::string_view query, cppicorn::Response& res) {
    static std::mutex mu;
    static std::condition_variable cv;
    static long arrived = 0;
    static uint64_t generation = 0;
    const long n = std::max(1L, query_int(query, "n", 1));
    const auto wait = std::chrono::milliseconds(std::max(0L, query_int(query, "ms", 10000)));
    std::unique_lock lock(mu);
    const uint64_t mine = generation;
    if (++arrived >= n) {
      arrived = 0;
      ++generation;
      cv.notify_all();
    } else if (!cv.wait_for(lock, wait, [&] { return generation != mine; })) {
      --arrived;
      return text(res.status(503), "barrier timeout\n");
    }
    text(res, "released\n");
  }

  // Opened here rather than with send_file(path) so that a directory is a 404, too.
  static void file(const std::string& path, cppicorn::Response& res) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      if (fd >= 0) ::close(fd);
      return text(res.status(404), "not found\n");
    }
    res.header("Content-Type", "application/octet-stream");
    if (!res.send_file(fd, 0, st.st_size)) throw std::runtime_error("send_file failed");
  }

  // Written from one static block of 'x', so a large body costs the app no allocation.
  static void bytes(std::string_view query, cppicorn::Response& res) {
    static const std::string block(64 * 1024, 'x');
    long n = query_int(query, "n", -1);
    if (n < 0) return text(res.status(400), "n missing\n");
    res.header("Content-Type", "application/octet-stream");
    for (size_t left = static_cast<size_t>(n); left > 0;) {
      size_t piece = std::min(left, block.size());
      res.write(std::string_view(block.data(), piece));
      left -= piece;
    }
  }
};

}  // namespace

CPPICORN_EXPORT_APP(app, Diag, CPPICORN_APP_THREAD_SAFE)
