// HttpEndpoint: the master's own tiny HTTP/1.x server for /metrics and the health checks,
// run by the master's libevent loop so it answers while every worker is stuck. Each exchange
// is one GET answered with Connection: close. Nothing blocks: reads and writes are evented,
// requests are capped at 8 KiB, clients at 64 and each exchange at 2 seconds, so a slow or
// hostile reader costs a file descriptor for two seconds and never stalls the master.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/listener.h"

namespace cppicorn::metrics {

struct Reply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpEndpoint {
 public:
  // Called with the method and the path (query string removed) of each request.
  using Handler = std::function<Reply(std::string_view method, std::string_view path)>;

  HttpEndpoint(event_base* base, net::Listener listener, Handler handler);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  const net::Listener& listener() const { return listener_; }
  // Closes the listening socket (clients being served finish); for a new master's hand-over.
  void stop_listening();
  // In a forked worker: forget everything without touching the shared event base.
  void drop_in_child();

 private:
  struct Client;
  static void on_accept(evutil_socket_t fd, short, void* self);
  static void on_client(evutil_socket_t fd, short what, void* client);
  void serve(Client* c, short what);
  void answer(Client* c);
  void finish(Client* c);

  event_base* base_;
  net::Listener listener_;
  Handler handler_;
  event* accept_ev_ = nullptr;
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace cppicorn::metrics
