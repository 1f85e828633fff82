#include "arbiter/upgrade.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "app/pyconf.h"
#include "arbiter/arbiter.h"
#include "log/log.h"

namespace cppicorn {
namespace {

constexpr const char* kReadyEnv = "CPPICORN_UPGRADE_FD";
constexpr int kSdListenFdsStart = 3;

// LISTEN_FDNAMES separates names with ':', so a name must not contain one.
std::string fd_name(const net::Listener& l) {
  std::string name = l.name;
  for (char& c : name) {
    if (c == ':' || c == '\0') c = '_';
  }
  return name.empty() ? "cppicorn" : name;
}

// In the forked child: arrange fds and environment as systemd would, then exec. Never
// returns; exit code 127 tells the old master exec failed.
[[noreturn]] void exec_new_master(const Invocation& inv,
                                  const std::vector<net::Listener>& listeners, int ready_write) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  // Move everything we keep above the target range [3, 3+n) first, so dup2 cannot clobber
  // a source. (Not "high" fds: RLIMIT_NOFILE is often just 1024 under systemd.)
  const int above = kSdListenFdsStart + static_cast<int>(listeners.size());
  std::vector<int> high;
  high.reserve(listeners.size());
  for (const net::Listener& l : listeners) high.push_back(fcntl(l.fd.get(), F_DUPFD, above));
  int ready = fcntl(ready_write, F_DUPFD, above);
  for (int fd : high) {
    if (fd < 0) _exit(127);
  }
  if (ready < 0) _exit(127);
  std::string names;
  for (size_t i = 0; i < high.size(); ++i) {
    int target = kSdListenFdsStart + static_cast<int>(i);
    dup2(high[i], target);  // dup2 clears FD_CLOEXEC on the new fd
    close(high[i]);
    names += (i ? ":" : "") + fd_name(listeners[i]);
  }
  setenv("LISTEN_FDS", std::to_string(listeners.size()).c_str(), 1);
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDNAMES", names.c_str(), 1);
  setenv(kReadyEnv, std::to_string(ready).c_str(), 1);
  // The watchdog follows the main pid: the new master must ping under its own pid.
  if (getenv("WATCHDOG_USEC") != nullptr)
    setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  std::vector<char*> argv;
  for (const std::string& a : inv.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(inv.exe_path.c_str(), argv.data());
  std::string msg = fmt::format("exec {}: {}\n", inv.exe_path, std::strerror(errno));
  if (::write(2, msg.data(), msg.size()) < 0) {
  }
  _exit(127);
}

}  // namespace

std::unique_ptr<Upgrade> Upgrade::start(const Invocation& invocation,
                                        const std::vector<net::Listener>& listeners,
                                        std::string* error, const std::function<void()>& in_child) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = fmt::format("pipe: {}", std::strerror(errno));
    return nullptr;
  }
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  log::flush();
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  app::pyconf::before_fork();
  pid_t pid = fork();
  if (pid == 0) {
    app::pyconf::after_fork_child();
    if (in_child) in_child();
    exec_new_master(invocation, listeners, write_end.get());
  }
  app::pyconf::after_fork_parent();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    *error = fmt::format("fork: {}", std::strerror(errno));
    return nullptr;
  }
  fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  return std::unique_ptr<Upgrade>(new Upgrade(pid, std::move(read_end)));
}

UniqueFd Upgrade::take_ready_pipe() {
  const char* value = std::getenv(kReadyEnv);
  if (value == nullptr) return UniqueFd();
  int fd = std::atoi(value);
  unsetenv(kReadyEnv);
  if (fd < 3 || fcntl(fd, F_GETFD) < 0) return UniqueFd();
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return UniqueFd(fd);
}

void Upgrade::report_ready(UniqueFd& pipe) {
  if (!pipe) return;
  char ready = 1;
  if (::write(pipe.get(), &ready, 1) < 0) {
  }  // the old master may be gone already; nothing to tell then
  pipe.reset();
}

std::string resolve_executable(const std::string& argv0, const std::string& start_dir) {
  namespace fs = std::filesystem;
  if (argv0.find('/') != std::string::npos) {
    fs::path p(argv0);
    return (p.is_absolute() ? p : fs::path(start_dir) / p).lexically_normal().string();
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(begin, end - begin)) / argv0;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    begin = end + 1;
  }
  return argv0;
}

}  // namespace cppicorn
