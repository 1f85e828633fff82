// `cppicorn ctl [--socket PATH] [--json] COMMAND`: sends one request line to the control
// socket, prints the reply, and exits non-zero when the master says ERROR. `top` repeats
// `status` (top.cpp).
#include "control/cli.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "util/unique_fd.h"

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
    "  top             status redrawn every second until q or Ctrl-C (a live view);\n"
    "                  --interval SECONDS, --iterations N (then exit); with --json, one\n"
    "                  status document per line\n"
    "The socket defaults to $RUNTIME_DIRECTORY/ctl (systemd's RuntimeDirectory=).\n";

}  // namespace

int run_cli(int argc, char** argv) {
  std::string path;
  std::string line;
  TopOptions top;
  bool top_flags = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (a == flag && i + 1 < argc) return std::string(argv[++i]);
      if (a.starts_with(flag) && a.size() > flag.size() && a[flag.size()] == '=')
        return std::string(a.substr(flag.size() + 1));
      return std::nullopt;
    };
    if (auto v = value("--socket")) {
      path = *v;
    } else if (auto iv = value("--interval")) {
      char* end = nullptr;
      top.interval = std::strtod(iv->c_str(), &end);
      if (end == iv->c_str() || *end != '\0' || !(top.interval >= 0.1 && top.interval <= 3600)) {
        std::fprintf(stderr, "cppicorn ctl: --interval: expected seconds (0.1 to 3600), got '%s'\n",
                     iv->c_str());
        return 2;
      }
      top_flags = true;
    } else if (auto nv = value("--iterations")) {
      char* end = nullptr;
      long n = std::strtol(nv->c_str(), &end, 10);
      if (end == nv->c_str() || *end != '\0' || n < 1) {
        std::fprintf(stderr, "cppicorn ctl: --iterations: expected a count >= 1, got '%s'\n",
                     nv->c_str());
        return 2;
      }
      top.iterations = n;
      top_flags = true;
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
  if (line == "top" || line == "top --json" || line == "--json top") {
    top.json = line != "top";
    return run_top(path, top);
  }
  if (top_flags) {
    std::fputs("cppicorn ctl: --interval and --iterations are for top\n", stderr);
    return 2;
  }
  Reply r = ask(path, line);
  if (r.outcome == Reply::kOk) {
    std::fputs(r.body.c_str(), stdout);
    return 0;
  }
  std::fprintf(stderr, "cppicorn ctl: %s", r.body.c_str());
  return r.outcome == Reply::kUnreachable ? 2 : 1;
}

Reply ask(const std::string& path, std::string line) {
  Reply r;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    r.body = "socket path too long: " + path + "\n";
    return r;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    r.body = "cannot connect to " + path + ": " + std::strerror(errno) + "\n";
    return r;
  }
  line += "\n";
  if (send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    r.body = path + ": " + std::strerror(errno) + "\n";
    return r;
  }
  // No shutdown(SHUT_WR): the master takes EOF for a caller that gave up waiting.
  std::string reply;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
  size_t nl = reply.find('\n');
  std::string_view status = std::string_view(reply).substr(0, nl);
  r.body = nl == std::string::npos ? "" : reply.substr(nl + 1);
  if (status == "OK") {
    r.outcome = Reply::kOk;
  } else if (status == "ERROR") {
    r.outcome = Reply::kError;
  } else {
    r.outcome = Reply::kGone;
    r.body = "no answer from " + path + " (the master went away?)\n";
  }
  return r;
}

}  // namespace cppicorn::control
