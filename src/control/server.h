// ControlServer: the master's control socket, a unix socket served by the master's own libevent
// loop (no thread, so no fork hazard). Each client sends one request line and gets one reply;
// a reply may come later (reload and upgrade answer once they know the outcome). Callers are
// identified by SO_PEERCRED: root and the service's users act, a configured group may read.
#pragma once

#include <event2/event.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control/protocol.h"
#include "util/unique_fd.h"

namespace cppicorn::control {

// Who may do what.
struct Access {
  std::vector<uid_t> act;                   // uids allowed every command (root is always)
  gid_t read_gid = static_cast<gid_t>(-1);  // members may run status; -1: nobody extra
};

class ControlServer {
 public:
  class Client;
  // Answers a client, now or later; the ticket stays valid until replied to or the client
  // goes away (then reply() is a no-op).
  struct Ticket {
    ControlServer* server = nullptr;
    uint64_t id = 0;
    void reply(bool ok, const std::string& body) const;
  };
  using Handler = std::function<void(const Command&, Ticket)>;

  // Binds PATH (replacing a stale socket file), mode 0600, or 0660 with its group set to
  // access.read_gid. nullptr with *error on failure.
  static std::unique_ptr<ControlServer> open(event_base* base, const std::string& path,
                                             Access access, Handler handler, std::string* error);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }
  // On final shutdown: remove the socket file.
  void unlink_path();

 private:
  ControlServer(event_base* base, UniqueFd fd, std::string path, Access access, Handler handler);
  static void on_accept(evutil_socket_t fd, short, void* self);
  static void on_client(evutil_socket_t fd, short what, void* client);
  void serve(Client* c, short what);
  void request(Client* c, std::string_view line);
  void send(Client* c, bool ok, const std::string& body);
  void finish(Client* c);
  Client* find(uint64_t id);

  event_base* base_;
  UniqueFd fd_;
  std::string path_;
  Access access_;
  Handler handler_;
  event* accept_ev_ = nullptr;
  uint64_t next_id_ = 1;
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace cppicorn::control
