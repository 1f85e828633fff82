// `cppicorn ctl [--socket PATH] [--json] COMMAND`: sends one request line to the control
// socket, prints the reply, and exits non-zero when the master says ERROR.
#include "control/cli.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace cppicorn::control {
namespace {

constexpr const char* kUsage =
    "usage: cppicorn ctl [--socket PATH] [--json] COMMAND\n"
    "commands:\n"
    "  status          the master, its generation and each worker (pid, age, state,\n"
    "                  current request and for how long, requests served, RSS)\n"
    "  workers +N|-N   grow or shrink the pool\n"
    "  reload          re-read the configuration; waits until the new workers serve,\n"
    "                  exits 1 with the reason if the reload is refused or fails\n"
    "  upgrade         start the binary on disk as a new master (USR2); waits until it\n"
    "                  serves, exits 1 with the reason if it does not\n"
    "  stop            graceful stop\n"
    "The socket defaults to $RUNTIME_DIRECTORY/ctl (systemd's RuntimeDirectory=).\n";

}  // namespace

int run_cli(int argc, char** argv) {
  std::string path;
  std::string line;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--socket" && i + 1 < argc) {
      path = argv[++i];
    } else if (a.starts_with("--socket=")) {
      path = std::string(a.substr(9));
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      line += (line.empty() ? "" : " ") + std::string(a);
    }
  }
  if (line.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (path.empty()) {
    const char* dir = std::getenv("RUNTIME_DIRECTORY");
    if (dir == nullptr || *dir == '\0') {
      std::fputs("cppicorn ctl: no control socket: give --socket PATH\n", stderr);
      return 2;
    }
    path = std::string(dir).substr(0, std::string(dir).find(':')) + "/ctl";
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "cppicorn ctl: socket path too long: %s\n", path.c_str());
    return 2;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "cppicorn ctl: cannot connect to %s: %s\n", path.c_str(),
                 std::strerror(errno));
    if (fd >= 0) close(fd);
    return 2;
  }
  line += "\n";
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    std::fprintf(stderr, "cppicorn ctl: %s: %s\n", path.c_str(), std::strerror(errno));
    close(fd);
    return 2;
  }
  // No shutdown(SHUT_WR): the master takes EOF for a caller that gave up waiting.
  std::string reply;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t nl = reply.find('\n');
  std::string_view status = std::string_view(reply).substr(0, nl);
  std::string body = nl == std::string::npos ? "" : reply.substr(nl + 1);
  if (status == "OK") {
    std::fputs(body.c_str(), stdout);
    return 0;
  }
  if (status == "ERROR") {
    std::fprintf(stderr, "cppicorn ctl: %s", body.c_str());
    return 1;
  }
  std::fprintf(stderr, "cppicorn ctl: no answer from %s (the master went away?)\n", path.c_str());
  return 1;
}

}  // namespace cppicorn::control
