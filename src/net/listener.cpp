#include "net/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace cppicorn::net {
namespace {

bool parse_port(std::string_view s, int* port) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *port);
  return ec == std::errc() && p == s.data() + s.size() && *port >= 0 && *port <= 65535;
}

std::string errno_text() { return std::strerror(errno); }

// The address a socket is bound to, as "host:port" / "[v6]:port" / "unix:path".
std::string sockname_text(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return fmt::format("{}:{}", host, ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(in6->sin6_port));
  }
  if (ss.ss_family == AF_UNIX) {
    auto* un = reinterpret_cast<sockaddr_un*>(&ss);
    return fmt::format("unix:{}", un->sun_path);
  }
  return {};
}

std::string url_of(int fd, bool tls = false) {
  std::string addr = sockname_text(fd);
  if (addr.starts_with("unix:")) return tls ? "https+" + addr : addr;
  return (tls ? "https://" : "http://") + addr;
}

// systemd names a TLS socket "https" (FileDescriptorName=https) and may name a plain one
// "http"; a re-exec hands over the bind text, which carries its scheme.
Scheme scheme_of_name(std::string_view name) {
  if (name == "https" || name.starts_with("https://")) return Scheme::kHttps;
  if (name == "http" || name.starts_with("http://")) return Scheme::kHttp;
  return Scheme::kDefault;
}

void set_listen_flags(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

std::optional<Listener> bind_tcp(const BindSpec& spec, const ListenOptions& opt,
                                 std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(spec.port);
  int rc = getaddrinfo(spec.host.empty() ? nullptr : spec.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    *error = fmt::format("cannot resolve '{}': {}", spec.text, gai_strerror(rc));
    return std::nullopt;
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0));
    if (!fd) continue;
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opt.reuse_port) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd.get(), opt.backlog) != 0) {
      last_error = errno_text();
      continue;
    }
    freeaddrinfo(res);
    // Responses leave in one writev (or writev + sendfile) and streamed chunks must not
    // wait for an ACK: no Nagle. Accepted sockets inherit it, so it costs no syscall per
    // connection (gunicorn sets it too).
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.defer_accept > 0)
      setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &opt.defer_accept,
                 sizeof opt.defer_accept);
    set_listen_flags(fd.get());
    Listener l;
    l.name = spec.text;
    l.url = url_of(fd.get());
    l.fd = std::move(fd);
    return l;
  }
  freeaddrinfo(res);
  *error = fmt::format("cannot bind {}: {}", spec.text, last_error);
  return std::nullopt;
}

std::optional<Listener> bind_unix(const BindSpec& spec, const ListenOptions& opt,
                                  std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (spec.path.size() >= sizeof addr.sun_path) {
    *error = fmt::format("unix socket path too long: {}", spec.path);
    return std::nullopt;
  }
  std::memcpy(addr.sun_path, spec.path.data(), spec.path.size());
  // A socket file left by a previous run would make bind fail; files of other types stay.
  struct stat st {};
  if (lstat(spec.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(spec.path.c_str());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd.get(), opt.backlog) != 0) {
    *error = fmt::format("cannot bind {}: {}", spec.text, errno_text());
    return std::nullopt;
  }
  set_listen_flags(fd.get());
  Listener l;
  l.name = spec.text;
  l.url = "unix:" + spec.path;
  l.unix_path = spec.path;
  l.is_unix = true;
  l.fd = std::move(fd);
  return l;
}

bool is_unix_socket(int fd) { return sd_is_socket(fd, AF_UNIX, SOCK_STREAM, 1) > 0; }

Listener adopt(int fd, std::string name) {
  set_listen_flags(fd);
  Listener l;
  l.fd = UniqueFd(fd);
  l.name = std::move(name);
  l.url = url_of(fd);
  l.is_unix = is_unix_socket(fd);
  l.scheme = scheme_of_name(l.name);
  return l;
}

// Index of the inherited socket this bind names, or -1.
int find_inherited(const BindSpec& spec, const std::vector<InheritedFd>& inherited) {
  for (size_t i = 0; i < inherited.size(); ++i) {
    const InheritedFd& in = inherited[i];
    if (in.fd < 0) continue;
    bool match = in.name == spec.text;
    if (spec.kind == BindSpec::Kind::kFdNumber) match = match || in.fd == spec.fd;
    if (spec.kind == BindSpec::Kind::kFdName) match = match || in.name == spec.name;
    if (spec.kind == BindSpec::Kind::kTcp) {
      std::string have = sockname_text(in.fd);
      match = match || have == spec.addr ||
              (spec.host == "localhost" && have == fmt::format("127.0.0.1:{}", spec.port));
    }
    if (spec.kind == BindSpec::Kind::kUnix) match = match || sockname_text(in.fd) == spec.addr;
    if (match) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::optional<BindSpec> parse_bind(std::string_view text, std::string* error) {
  BindSpec spec;
  spec.text = std::string(text);
  if (text.starts_with("https://")) {
    spec.scheme = Scheme::kHttps;
    text.remove_prefix(8);
  } else if (text.starts_with("http://")) {
    spec.scheme = Scheme::kHttp;
    text.remove_prefix(7);
  }
  spec.addr = std::string(text);
  if (text.starts_with("unix:")) {
    spec.kind = BindSpec::Kind::kUnix;
    spec.path = std::string(text.substr(5));
    if (spec.path.empty()) {
      *error = fmt::format("bind '{}': empty unix socket path", text);
      return std::nullopt;
    }
    return spec;
  }
  if (text.starts_with("fd://")) {
    std::string_view rest = text.substr(5);
    int n = -1;
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (ec == std::errc() && p == rest.data() + rest.size() && n >= 0) {
      spec.kind = BindSpec::Kind::kFdNumber;
      spec.fd = n;
    } else if (!rest.empty()) {
      spec.kind = BindSpec::Kind::kFdName;
      spec.name = std::string(rest);
    } else {
      *error = fmt::format("bind '{}': expected fd://NUMBER or fd://NAME", text);
      return std::nullopt;
    }
    return spec;
  }
  std::string_view host, port;
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = fmt::format("bind '{}': expected [IPV6]:PORT", text);
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      host = text;  // gunicorn: a bare host means port 8000
      port = "8000";
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
  }
  if (!parse_port(port, &spec.port)) {
    *error = fmt::format("bind '{}': invalid port '{}'", text, port);
    return std::nullopt;
  }
  spec.host = std::string(host);
  return spec;
}

std::vector<InheritedFd> take_inherited_fds(std::string* error) {
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);  // 1: unset the LISTEN_* variables
  std::vector<InheritedFd> fds;
  for (int i = 0; i < n; ++i) {
    int fd = SD_LISTEN_FDS_START + i;
    std::string name = names && names[i] ? names[i] : "unknown";
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0) {
      fds.push_back({fd, name});
    } else {
      *error +=
          fmt::format("inherited fd {} ({}) is not a listening stream socket; closed. ", fd, name);
      close(fd);
    }
  }
  if (names) {
    for (int i = 0; i < n; ++i) free(names[i]);
    free(names);
  }
  return fds;
}

std::optional<std::vector<Listener>> open_listeners(const std::vector<std::string>& binds,
                                                    std::vector<InheritedFd> inherited,
                                                    const ListenOptions& options,
                                                    std::string* error,
                                                    std::vector<std::string>* warnings,
                                                    bool* bad_config) {
  std::vector<Listener> out;
  if (bad_config != nullptr) *bad_config = false;
  if (binds.empty() && !inherited.empty()) {
    for (InheritedFd& in : inherited) out.push_back(adopt(in.fd, in.name));
    return out;
  }
  std::vector<std::string> effective =
      binds.empty() ? std::vector<std::string>{"127.0.0.1:8000"} : binds;
  // On failure nothing may stay behind: not the inherited sockets no bind took yet (a
  // reload passes duplicates of the running listeners), nor socket files bound so far.
  auto fail = [&] {
    for (const InheritedFd& in : inherited)
      if (in.fd >= 0) close(in.fd);
    unlink_unix_sockets(out);
    return std::nullopt;
  };
  for (const std::string& text : effective) {
    auto spec = parse_bind(text, error);
    if (!spec) return fail();
    int i = find_inherited(*spec, inherited);
    if (i >= 0) {
      Scheme named = scheme_of_name(inherited[i].name);
      out.push_back(adopt(inherited[i].fd, spec->text));
      if (out.back().scheme == Scheme::kDefault) out.back().scheme = named;
      inherited[i].fd = -1;
      continue;
    }
    std::optional<Listener> l;
    switch (spec->kind) {
      case BindSpec::Kind::kTcp:
        l = bind_tcp(*spec, options, error);
        break;
      case BindSpec::Kind::kUnix:
        l = bind_unix(*spec, options, error);
        break;
      case BindSpec::Kind::kFdNumber:
        if (sd_is_socket(spec->fd, AF_UNSPEC, SOCK_STREAM, 1) > 0) {
          l = adopt(spec->fd, spec->text);
        } else {
          *error = fmt::format("bind '{}': fd {} is not a listening stream socket", text, spec->fd);
          if (bad_config != nullptr) *bad_config = true;
        }
        break;
      case BindSpec::Kind::kFdName:
        *error =
            fmt::format("bind '{}': no socket named '{}' was passed by systemd", text, spec->name);
        if (bad_config != nullptr) *bad_config = true;
        break;
    }
    if (!l) return fail();
    if (spec->scheme != Scheme::kDefault) l->scheme = spec->scheme;
    out.push_back(std::move(*l));
  }
  for (const InheritedFd& in : inherited) {
    if (in.fd < 0) continue;
    warnings->push_back(fmt::format("inherited socket {} ({}, {}) matches no bind; closed", in.fd,
                                    in.name, sockname_text(in.fd)));
    close(in.fd);
  }
  return out;
}

std::string resolve_tls(std::vector<Listener>& listeners, bool tls_configured, bool) {
  bool explicit_https = false;
  for (const Listener& l : listeners) {
    explicit_https |= l.scheme == Scheme::kHttps;
    if (l.scheme == Scheme::kHttps && !tls_configured) {
      return fmt::format("listener {} is https but no certfile is set", l.name);
    }
  }
  auto is_tls = [&](const Listener& l) {
    return l.scheme == Scheme::kHttps ||
           (l.scheme == Scheme::kDefault && tls_configured && !explicit_https);
  };
  for (Listener& l : listeners) {
    l.tls = is_tls(l);
    l.url = url_of(l.fd.get(), l.tls);
  }
  return "";
}

void unlink_unix_sockets(const std::vector<Listener>& listeners) {
  for (const Listener& l : listeners) {
    if (!l.unix_path.empty()) unlink(l.unix_path.c_str());
  }
}

}  // namespace cppicorn::net
