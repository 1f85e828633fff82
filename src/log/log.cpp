// The error log: a spdlog sink that writes gunicorn-shaped lines with one write(2) each.
//
// We do not use spdlog's pattern formatter: its %z prints "+00:00" (gunicorn prints "+0000")
// and its level names are lower-case ("warning", not "WARNING"), both fixed at spdlog's build
// time. Our own sink formats the line itself, writes it with a single write(2) on an O_APPEND
// descriptor (so lines from the master and every worker never interleave, and nothing sits in
// a user-space buffer when a process crashes) and reopens the file in place with dup2().
#include "log/log.h"

#include <fcntl.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <string_view>

namespace cppicorn::log {
namespace {

// Python logging's level names, which gunicorn prints.
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "DEBUG";
    case spdlog::level::info:
      return "INFO";
    case spdlog::level::warn:
      return "WARNING";
    case spdlog::level::err:
      return "ERROR";
    default:
      return "CRITICAL";
  }
}

// Syslog priority prefixes understood by journald on a stream (sd-daemon.h's SD_DEBUG...).
std::string_view journal_prefix(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "<7>";
    case spdlog::level::info:
      return "<6>";
    case spdlog::level::warn:
      return "<4>";
    case spdlog::level::err:
      return "<3>";
    default:
      return "<2>";
  }
}

// Writes all of data, retrying on EINTR and short writes. Errors are dropped: there is
// nowhere left to report a failing error log.
void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

std::atomic<uint64_t> g_own_counts[kCountedLevels] = {};
std::atomic<uint64_t>* g_counts = g_own_counts;

// Which log::count_into cell a line counts in, or -1.
int counted_cell(spdlog::level::level_enum level, std::string_view text) {
  switch (level) {
    case spdlog::level::critical:
      return 0;
    case spdlog::level::err:
      return text.starts_with("Error handling request") ? 3 : 1;
    case spdlog::level::warn:
      return 2;
    default:
      return -1;
  }
}

// A sink writing one line per write(2) to a descriptor it may reopen.
// In journal mode lines carry "<N>" priority prefixes instead of timestamp and pid.
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LineSink(int fd, std::string path, bool journal)
      : fd_(fd), path_(std::move(path)), journal_(journal) {}
  ~LineSink() override {
    if (!path_.empty()) ::close(fd_);
  }

  // Reopens path_ onto the same descriptor number, so a concurrent writer in another thread
  // writes either to the old or the new file, never to a closed descriptor.
  bool reopen(std::string* error) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (path_.empty()) return true;
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (error) *error = path_ + ": " + std::strerror(errno);
      return false;
    }
    if (::dup3(fd, fd_, O_CLOEXEC) < 0) {
      if (error) *error = path_ + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    ::close(fd);
    chown_file();
    capture_now();
    return true;
  }

  // --capture-output: standard output and error become the log file (gunicorn's dup2), now
  // and after each reopen, so print() from the app lands in the current file.
  void capture() {
    std::lock_guard<std::mutex> lock(mutex_);
    capture_ = !path_.empty();
    capture_now();
  }

  void set_owner(uid_t uid, gid_t gid) {
    std::lock_guard<std::mutex> lock(mutex_);
    uid_ = uid;
    gid_ = gid;
    chown_file();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    line_.clear();
    std::string_view text(msg.payload.data(), msg.payload.size());
    if (int cell = counted_cell(msg.level, text); cell >= 0)
      g_counts[cell].fetch_add(1, std::memory_order_relaxed);
    if (journal_) {
      // journald splits on newlines; prefix every line so a traceback keeps its priority.
      std::string_view prefix = journal_prefix(msg.level);
      for (;;) {
        size_t nl = text.find('\n');
        line_.append(prefix.data(), prefix.size());
        line_.append(text.substr(0, nl));
        line_.push_back('\n');
        if (nl == std::string_view::npos || nl + 1 == text.size()) break;
        text.remove_prefix(nl + 1);
      }
    } else {
      append_prefix(msg);
      line_.append(text);
      if (text.empty() || text.back() != '\n') line_.push_back('\n');
    }
    write_all(fd_, line_.data(), line_.size());
  }
  void flush_() override {}  // every line is written at once

 private:
  // "[2026-11-22 10:00:00 +0000] [4242] [INFO] ". The date is local time like gunicorn's,
  // formatted once per second. The pid is read per line: workers are forked from the master
  // and inherit this sink, and glibc no longer caches getpid().
  void append_prefix(const spdlog::details::log_msg& msg) {
    time_t secs = std::chrono::system_clock::to_time_t(msg.time);
    if (secs != cached_second_ || date_len_ == 0) {
      struct tm tm {};
      localtime_r(&secs, &tm);
      date_len_ = std::strftime(date_, sizeof date_, "[%Y-%m-%d %H:%M:%S %z] ", &tm);
      cached_second_ = secs;
    }
    line_.append(date_, date_len_);
    char pid[32];
    int n = std::snprintf(pid, sizeof pid, "[%d] [", static_cast<int>(::getpid()));
    line_.append(pid, static_cast<size_t>(n));
    line_.append(level_name(msg.level));
    line_.append("] ");
  }

  void capture_now() {
    if (!capture_) return;
    ::dup2(fd_, STDOUT_FILENO);
    ::dup2(fd_, STDERR_FILENO);
  }

  void chown_file() {
    if (path_.empty() || uid_ == static_cast<uid_t>(-1) || ::geteuid() != 0) return;
    [[maybe_unused]] int rc = ::fchown(fd_, uid_, gid_);  // e.g. /dev/null: fine as it is
  }

  int fd_;
  std::string path_;  // empty for stderr (not reopened, not closed)
  uid_t uid_ = static_cast<uid_t>(-1);
  gid_t gid_ = static_cast<gid_t>(-1);
  bool journal_;
  bool capture_ = false;
  std::string line_;  // reused for every line
  time_t cached_second_ = 0;
  char date_[64] = {};
  size_t date_len_ = 0;
};

std::shared_ptr<LineSink> g_sink;  // the default logger's sink, for reopen()

// gunicorn's level names, case-insensitive, plus "warn".
bool parse_level(std::string_view name, spdlog::level::level_enum* level) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "debug") {
    *level = spdlog::level::debug;
  } else if (lower == "info") {
    *level = spdlog::level::info;
  } else if (lower == "warning" || lower == "warn") {
    *level = spdlog::level::warn;
  } else if (lower == "error") {
    *level = spdlog::level::err;
  } else if (lower == "critical") {
    *level = spdlog::level::critical;
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool is_journal_stream(int fd, const char* journal_stream) {
  if (journal_stream == nullptr || *journal_stream == '\0') return false;
  uintmax_t dev = 0, ino = 0;
  char tail = 0;
  // Exactly "DEV:INODE", both decimal (systemd.exec(5)); %c catches trailing garbage.
  if (std::sscanf(journal_stream, "%ju:%ju%c", &dev, &ino, &tail) != 2) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<uintmax_t>(st.st_dev) == dev && static_cast<uintmax_t>(st.st_ino) == ino;
}

bool init(const std::string& level, const std::string& path, std::string* error) {
  spdlog::level::level_enum lvl;
  if (!parse_level(level, &lvl)) {
    if (error) *error = "unknown log level: " + level;
    return false;
  }
  std::shared_ptr<LineSink> sink;
  if (path == "-") {
    bool journal = is_journal_stream(STDERR_FILENO, std::getenv("JOURNAL_STREAM"));
    sink = std::make_shared<LineSink>(STDERR_FILENO, std::string(), journal);
  } else {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (error) *error = path + ": " + std::strerror(errno);
      return false;
    }
    sink = std::make_shared<LineSink>(fd, path, false);
  }
  auto logger = std::make_shared<spdlog::logger>("cppicorn", sink);
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  g_sink = std::move(sink);
  return true;
}

void capture_output() {
  if (g_sink) g_sink->capture();
}

void reopen() {
  if (!g_sink) return;
  std::string error;
  if (!g_sink->reopen(&error)) spdlog::error("cannot reopen the error log: {}", error);
}

void set_owner(uid_t uid, gid_t gid) {
  if (g_sink) g_sink->set_owner(uid, gid);
}

// Set while the process is single-threaded (the master, or a worker right after fork).
void count_into(std::atomic<uint64_t>* cells) { g_counts = cells; }

const std::atomic<uint64_t>* own_counts() { return g_own_counts; }

void flush() {
  // Lines are written as they are logged; this only covers loggers added elsewhere.
  if (auto logger = spdlog::default_logger()) logger->flush();
}

}  // namespace cppicorn::log
