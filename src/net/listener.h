// Listening sockets: parsing bind specs, binding them, and adopting sockets handed to us by
// systemd or by a parent master on re-exec (both arrive as LISTEN_FDS/LISTEN_FDNAMES).
// The arbiter owns the Listeners; workers inherit the fds across fork and accept on them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/unique_fd.h"

namespace cppicorn::net {

// Whether a listener speaks TLS: as its bind or systemd name says, or (kDefault) as the
// settings decide (certfile set: TLS, as in gunicorn).
enum class Scheme { kDefault, kHttp, kHttps };

// A parsed -b/--bind value: [https://|http://] then HOST:PORT, [V6]:PORT, unix:PATH, fd://N or
// fd://NAME.
struct BindSpec {
  enum class Kind { kTcp, kUnix, kFdNumber, kFdName } kind = Kind::kTcp;
  Scheme scheme = Scheme::kDefault;
  std::string text;  // as given (with the scheme)
  std::string addr;  // text without the scheme
  std::string host;  // kTcp
  int port = 0;      // kTcp
  std::string path;  // kUnix
  int fd = -1;       // kFdNumber
  std::string name;  // kFdName
};

std::optional<BindSpec> parse_bind(std::string_view text, std::string* error);

// A socket received at startup, with its LISTEN_FDNAMES name ("unknown" when unnamed).
struct InheritedFd {
  int fd;
  std::string name;
};

// Takes the sockets systemd (or a parent master) passed, if LISTEN_PID is us; clears
// LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES so workers and apps do not inherit them. Sockets that
// are not listening stream sockets are reported in *error and closed.
std::vector<InheritedFd> take_inherited_fds(std::string* error);

// One listening socket owned by the arbiter.
struct Listener {
  UniqueFd fd;
  std::string name;       // the bind text, or the systemd name: survives a re-exec hand-off
  std::string url;        // for logs: "http://127.0.0.1:8000", "unix:/run/x.sock"
  std::string unix_path;  // a socket file we created and remove on shutdown
  bool is_unix = false;
  Scheme scheme = Scheme::kDefault;
  bool tls = false;  // set by resolve_tls
};

// Decides which listeners are TLS. With TLS configured (certfile), kDefault listeners are TLS
// unless some listener is explicitly https (then only those are: plain and TLS side by side).
// Without it, an https listener is an error. With the PROXY protocol, its header comes before
// the TLS handshake (proxy_protocol no longer restricts anything; kept for the callers).
// Returns the error ("" when fine); on error nothing is changed.
std::string resolve_tls(std::vector<Listener>& listeners, bool tls_configured, bool proxy_protocol);

struct ListenOptions {
  int backlog = 2048;
  bool reuse_port = false;
  int defer_accept = 0;  // seconds of TCP_DEFER_ACCEPT on bound TCP sockets; 0: off
};

// Opens one listener per bind spec, adopting a matching inherited socket when there is one
// (fd://N, fd://NAME, the same name, or the same address) and binding otherwise. With no
// binds: every inherited socket, else 127.0.0.1:8000. Inherited sockets that no bind claims
// are closed and named in *warnings. Returns nullopt with *error on failure; *bad_config
// (when given) then says whether the configuration itself is wrong (a fd:// bind naming no
// passed socket: exit 2, which systemd does not restart) rather than the system (a port in
// use: exit 1, worth a restart).
std::optional<std::vector<Listener>> open_listeners(const std::vector<std::string>& binds,
                                                    std::vector<InheritedFd> inherited,
                                                    const ListenOptions& options,
                                                    std::string* error,
                                                    std::vector<std::string>* warnings,
                                                    bool* bad_config = nullptr);

// Removes socket files we created (on final shutdown, not on re-exec).
void unlink_unix_sockets(const std::vector<Listener>& listeners);

}  // namespace cppicorn::net
