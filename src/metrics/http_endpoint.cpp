// The master's metrics/health HTTP server (see http_endpoint.h for its bounds).
#include "metrics/http_endpoint.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/unique_fd.h"

namespace cppicorn::metrics {
namespace {

constexpr size_t kMaxRequest = 8192;
constexpr size_t kMaxClients = 64;
constexpr timeval kExchangeTime{2, 0};

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Service Unavailable";
  }
}

}  // namespace

struct HttpEndpoint::Client {
  HttpEndpoint* owner = nullptr;
  UniqueFd fd;
  event* ev = nullptr;
  std::string in;
  std::string out;
  size_t sent = 0;
  bool writing = false;
  ~Client() {
    if (ev) event_free(ev);
  }
};

HttpEndpoint::HttpEndpoint(event_base* base, net::Listener listener, Handler handler)
    : base_(base), listener_(std::move(listener)), handler_(std::move(handler)) {
  accept_ev_ = event_new(base_, listener_.fd.get(), EV_READ | EV_PERSIST, on_accept, this);
  event_add(accept_ev_, nullptr);
}

HttpEndpoint::~HttpEndpoint() {
  clients_.clear();
  if (accept_ev_) event_free(accept_ev_);
}

void HttpEndpoint::stop_listening() {
  if (accept_ev_) event_free(accept_ev_);
  accept_ev_ = nullptr;
  listener_.fd.reset();
}

void HttpEndpoint::drop_in_child() {
  // The events belong to the master's base, which the child frees on its own: release the
  // fds only.
  for (auto& c : clients_) c->ev = nullptr;
  clients_.clear();
  accept_ev_ = nullptr;
  listener_.fd.reset();
}

void HttpEndpoint::on_accept(evutil_socket_t fd, short, void* self) {
  auto* e = static_cast<HttpEndpoint*>(self);
  for (int i = 0; i < 16; ++i) {  // bounded per wake-up, like everything in the master loop
    int client = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;
    if (e->clients_.size() >= kMaxClients) {
      close(client);  // full: shed at once rather than let the queue fill with the stale
      continue;
    }
    auto c = std::make_unique<Client>();
    c->owner = e;
    c->fd.reset(client);
    c->ev = event_new(e->base_, client, EV_READ | EV_PERSIST, on_client, c.get());
    event_add(c->ev, &kExchangeTime);
    e->clients_.push_back(std::move(c));
  }
}

void HttpEndpoint::on_client(evutil_socket_t, short what, void* client) {
  auto* c = static_cast<Client*>(client);
  c->owner->serve(c, what);
}

void HttpEndpoint::serve(Client* c, short what) {
  if (what & EV_TIMEOUT) return finish(c);
  if (c->writing) {
    while (c->sent < c->out.size()) {
      ssize_t n = send(c->fd.get(), c->out.data() + c->sent, c->out.size() - c->sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) return finish(c);
      c->sent += static_cast<size_t>(n);
    }
    return finish(c);
  }
  char buf[2048];
  ssize_t n = recv(c->fd.get(), buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return finish(c);
  c->in.append(buf, static_cast<size_t>(n));
  answer(c);
}

// Answers once the head is complete; only the request line matters.
void HttpEndpoint::answer(Client* c) {
  Reply r;
  size_t end = c->in.find("\r\n\r\n");
  if (end == std::string::npos) end = c->in.find("\n\n");
  if (end == std::string::npos) {
    if (c->in.size() < kMaxRequest) return;
    r = {431, "text/plain; charset=utf-8", "request head too large\n"};
  } else {
    std::string_view line(c->in);
    line = line.substr(0, line.find_first_of("\r\n"));
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
      r = {400, "text/plain; charset=utf-8", "bad request\n"};
    } else {
      std::string_view method = line.substr(0, sp1);
      std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      target = target.substr(0, target.find('?'));
      r = handler_(method, target);
      if (method == "HEAD") r.body.clear();
    }
  }
  c->out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
      "Connection: close\r\n\r\n",
      r.status, reason(r.status), r.content_type, r.body.size());
  c->out += r.body;
  c->writing = true;
  event_del(c->ev);
  event_assign(c->ev, base_, c->fd.get(), EV_WRITE | EV_PERSIST, on_client, c);
  event_add(c->ev, &kExchangeTime);  // a fresh 2 s to take the answer
  serve(c, EV_WRITE);
}

void HttpEndpoint::finish(Client* c) {
  auto it = std::find_if(clients_.begin(), clients_.end(),
                         [c](const std::unique_ptr<Client>& p) { return p.get() == c; });
  if (it != clients_.end()) clients_.erase(it);
}

}  // namespace cppicorn::metrics
