// The control socket's server side (see server.h): accept, SO_PEERCRED, one line, one reply.
#include "control/server.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cppicorn::control {
namespace {

constexpr size_t kMaxClients = 16;
constexpr timeval kIoTime{2, 0};

// Whether uid is in group gid, as its primary group or a supplementary one.
bool in_group(uid_t uid, gid_t primary, gid_t gid) {
  if (primary == gid) return true;
  passwd* pw = getpwuid(uid);
  if (pw == nullptr) return false;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) return false;
  }
  groups.resize(static_cast<size_t>(n));
  return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

}  // namespace

class ControlServer::Client {
 public:
  ControlServer* owner = nullptr;
  uint64_t id = 0;
  UniqueFd fd;
  event* ev = nullptr;
  std::string in;
  std::string out;
  size_t sent = 0;
  bool waiting = false;  // the handler has the request
  bool writing = false;
  bool draining = false;  // replied; discarding input until EOF so the reply is not reset
  bool may_act = false;
  bool may_read = false;
  ~Client() {
    if (ev) event_free(ev);
  }
};

void ControlServer::Ticket::reply(bool ok, const std::string& body) const {
  if (server == nullptr) return;
  if (Client* c = server->find(id)) server->send(c, ok, body);
}

std::unique_ptr<ControlServer> ControlServer::open(event_base* base, const std::string& path,
                                                   Access access, Handler handler,
                                                   std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = fmt::format("control socket path too long: {}", path);
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());  // stale
  // Created 0600 from the start (no window in which others could connect).
  mode_t old = umask(0177);
  int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0 || listen(fd.get(), 16) != 0) {
    *error = fmt::format("control socket {}: {}", path, std::strerror(errno));
    return nullptr;
  }
  if (access.read_gid != static_cast<gid_t>(-1) &&
      (chown(path.c_str(), static_cast<uid_t>(-1), access.read_gid) != 0 ||
       chmod(path.c_str(), 0660) != 0)) {
    *error = fmt::format("control socket {}: cannot give it to the control group: {}", path,
                         std::strerror(errno));
    unlink(path.c_str());
    return nullptr;
  }
  return std::unique_ptr<ControlServer>(
      new ControlServer(base, std::move(fd), path, std::move(access), std::move(handler)));
}

ControlServer::ControlServer(event_base* base, UniqueFd fd, std::string path, Access access,
                             Handler handler)
    : base_(base),
      fd_(std::move(fd)),
      path_(std::move(path)),
      access_(std::move(access)),
      handler_(std::move(handler)) {
  accept_ev_ = event_new(base_, fd_.get(), EV_READ | EV_PERSIST, on_accept, this);
  event_add(accept_ev_, nullptr);
}

ControlServer::~ControlServer() {
  clients_.clear();
  if (accept_ev_) event_free(accept_ev_);
}

void ControlServer::unlink_path() { unlink(path_.c_str()); }

void ControlServer::on_accept(evutil_socket_t fd, short, void* self) {
  auto* s = static_cast<ControlServer*>(self);
  for (int i = 0; i < 8; ++i) {
    int client = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;
    if (s->clients_.size() >= kMaxClients) {
      close(client);
      continue;
    }
    auto c = std::make_unique<Client>();
    c->owner = s;
    c->id = s->next_id_++;
    c->fd.reset(client);
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      const auto& act = s->access_.act;
      c->may_act = cred.uid == 0 || std::find(act.begin(), act.end(), cred.uid) != act.end();
      c->may_read = c->may_act || (s->access_.read_gid != static_cast<gid_t>(-1) &&
                                   in_group(cred.uid, cred.gid, s->access_.read_gid));
    }
    c->ev = event_new(s->base_, client, EV_READ | EV_PERSIST, on_client, c.get());
    event_add(c->ev, &kIoTime);
    s->clients_.push_back(std::move(c));
  }
}

void ControlServer::on_client(evutil_socket_t, short what, void* client) {
  auto* c = static_cast<Client*>(client);
  c->owner->serve(c, what);
}

ControlServer::Client* ControlServer::find(uint64_t id) {
  for (auto& c : clients_)
    if (c->id == id) return c.get();
  return nullptr;
}

void ControlServer::serve(Client* c, short what) {
  if (what & EV_TIMEOUT) return finish(c);
  if (c->draining) {
    char sink[4096];
    for (int i = 0; i < 16; ++i) {
      ssize_t n = recv(c->fd.get(), sink, sizeof sink, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) return finish(c);
    }
    return;
  }
  if (c->writing) {
    while (c->sent < c->out.size()) {
      ssize_t n =
          ::send(c->fd.get(), c->out.data() + c->sent, c->out.size() - c->sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) return finish(c);
      c->sent += static_cast<size_t>(n);
    }
    // Done: close our side, and read what the client still sends until it closes (within
    // the same 2 s), since closing with unread input would reset the connection.
    shutdown(c->fd.get(), SHUT_WR);
    c->draining = true;
    event_del(c->ev);
    event_assign(c->ev, base_, c->fd.get(), EV_READ | EV_PERSIST, on_client, c);
    event_add(c->ev, &kIoTime);
    return;
  }
  char buf[512];
  ssize_t n = recv(c->fd.get(), buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return finish(c);  // gone (also while waiting for an outcome)
  if (c->waiting) return;        // one request per connection: ignore the rest
  c->in.append(buf, static_cast<size_t>(n));
  size_t nl = c->in.find('\n');
  if (nl == std::string::npos) {
    if (c->in.size() > kMaxRequest) send(c, false, "request too long\n");
    return;
  }
  request(c, std::string_view(c->in).substr(0, nl));
}

void ControlServer::request(Client* c, std::string_view line) {
  Command cmd;
  std::string error;
  if (!c->may_read) return send(c, false, "not authorized\n");
  if (!parse(line, &cmd, &error)) return send(c, false, error + "\n");
  if (cmd.writes() && !c->may_act) return send(c, false, "not authorized: read-only access\n");
  c->waiting = true;
  event_del(c->ev);
  event_add(c->ev, nullptr);  // no deadline while the master works on it; EOF still seen
  handler_(cmd, Ticket{this, c->id});
}

void ControlServer::send(Client* c, bool ok, const std::string& body) {
  c->out = (ok ? "OK\n" : "ERROR\n") + body;
  c->writing = true;
  event_del(c->ev);
  event_assign(c->ev, base_, c->fd.get(), EV_WRITE | EV_PERSIST, on_client, c);
  event_add(c->ev, &kIoTime);
}

void ControlServer::finish(Client* c) {
  auto it = std::find_if(clients_.begin(), clients_.end(),
                         [c](const std::unique_ptr<Client>& p) { return p.get() == c; });
  if (it != clients_.end()) clients_.erase(it);
}

}  // namespace cppicorn::control
