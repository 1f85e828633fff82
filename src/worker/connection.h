// Connection: one client socket inside a worker, driven by libevent through
//   [PROXY header] -> read head -> pre-read a small body -> app call -> write -> keep-alive.
// Only the app call (and a body too large to pre-read) blocks; everything else is evented.
#pragma once

#include <event2/event.h>
#include <event2/event_struct.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "app/app.h"
#include "http/parser.h"
#include "net/ip_allow.h"
#include "scoreboard/scoreboard.h"
#include "util/unique_fd.h"

namespace cppicorn::worker {

// Shared by the connection's files (connection.cpp defines them).
timeval to_timeval(double seconds);
// The first line of the head ("GET /x HTTP/1.1"), for logs and the scoreboard.
std::string_view request_line(const http::Request& r);

class Worker;

struct PeerTrust;  // worker.h: the allow-lists of the worker

class Connection final : public app::Exchange {
 public:
  explicit Connection(Worker& worker);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts serving an accepted socket (non-blocking). The connection returns itself to the
  // worker's pool when it closes.
  void open(int fd, const sockaddr_storage& peer);
  // Graceful stop: close now if idle between requests, else after the current response.
  void stop_when_idle();
  bool idle() const { return state_ == State::kKeepAlive && in_len_ == 0; }

  // app::Exchange
  const http::Request& request() const override { return request_; }
  // The client as the app sees it: the socket peer (or the PROXY header's source), or what a
  // trusted proxy says in X-Forwarded-* (resolved on first use per request).
  std::string_view remote_addr() const override;
  int remote_port() const override;
  std::string_view url_scheme() const override;
  int64_t read_body(void* buf, size_t len) override;
  void set_status(int status) override { status_ = status; }
  void add_header(std::string_view name, std::string_view value) override;
  void write(const void* data, size_t len) override;
  int stream(const void* data, size_t len) override;
  void set_content_length(uint64_t length) override;
  int send_file(int fd, int64_t offset, int64_t len) override;

 private:
  enum class State {
    kClosed,
    kReadingProxy,
    kReadingHead,
    kReadingBody,
    kInApp,
    kWriting,
    kKeepAlive,
    kLingering
  };
  static ConnState gauge(State s);

  // Every state change goes through here: it keeps the scoreboard's connection gauges.
  void enter(State next);
  static void on_read(evutil_socket_t fd, short what, void* self);
  static void on_write(evutil_socket_t fd, short what, void* self);
  void readable(short what);
  void process();
  bool body_complete_in_buffer();
  void run_app();
  void respond();
  void respond_error(int status, std::string_view reason);
  void write_pending();
  void request_done();
  void close();
  void close_after_response();
  void linger_readable(short what);
  void reset_response();
  void arm_read(double seconds);
  void start_head_deadline();
  void arm_head_timer();
  bool body_settled();
  // Peer identity (connection_peer.cpp).
  void set_peer(const sockaddr_storage& peer);
  void set_peer(const net::Ip16& ip, int port);
  bool read_proxy_header();
  void resolve_forwarded() const;
  // Body framing (connection_body.cpp).
  void start_body();
  bool pump_body();
  bool read_more_blocking();
  bool ensure_input_space(size_t want);
  // Blocking output for streamed bodies and 100 Continue (connection_body.cpp).
  bool send_all_blocking(const char* a, size_t alen, const char* b, size_t blen,
                         std::string_view c = {});

  Worker& worker_;
  UniqueFd fd_;
  event read_ev_{};
  event write_ev_{};
  State state_ = State::kClosed;
  bool stop_requested_ = false;
  bool linger_ =
      false;  // input may be left unread when we close: linger (see close_after_response)
  std::chrono::steady_clock::time_point linger_until_;

  // Peer: the socket's, or the PROXY header's source.
  const PeerTrust& trust_;
  char addr_[48] = {};
  size_t addr_len_ = 0;
  int port_ = 0;
  bool forwarded_trusted_ = false;  // the peer may set X-Forwarded-*
  // X-Forwarded-* as resolved for the current request (mutable: resolved lazily in getters,
  // so requests whose app never asks pay nothing).
  mutable bool forwarded_done_ = false;
  mutable char fwd_addr_[48] = {};
  mutable size_t fwd_addr_len_ = 0;
  mutable int fwd_port_ = -1;
  mutable std::string_view fwd_scheme_;

  // Input: [0, head_len_) is the current head; body bytes follow (see connection_body.cpp).
  std::unique_ptr<char[]> in_;
  size_t in_cap_ = 0;
  size_t in_len_ = 0;
  size_t head_len_ = 0;
  http::Request request_;
  http::RequestParser parser_;
  http::ChunkedDecoder chunked_;
  std::chrono::steady_clock::time_point head_deadline_;
  bool head_deadline_set_ = false;
  std::chrono::system_clock::time_point started_;
  std::chrono::steady_clock::time_point started_mono_;

  // Body state: decoded bytes ready for the app are [body_read_, body_end_); raw bytes not
  // yet decoded are [raw_pos_, in_len_).
  size_t body_read_ = 0;
  size_t body_end_ = 0;
  size_t raw_pos_ = 0;
  uint64_t body_left_ = 0;  // kLength: bytes not yet moved into [.., body_end_)
  bool body_done_ = false;
  bool body_failed_ = false;
  int body_error_status_ = 400;
  std::string_view body_error_reason_;
  bool continue_sent_ = false;

  // Response.
  int status_ = 200;
  bool server_from_app_ = false;
  std::string fields_;  // validated "Name: value\r\n" lines from the app
  std::string body_;    // buffered body
  std::string out_;     // head (+ chunk framing) waiting to be written
  size_t out_sent_ = 0;
  size_t body_sent_ = 0;
  UniqueFd file_;
  int64_t file_off_ = 0;
  int64_t file_left_ = 0;
  bool streaming_ = false;
  bool head_sent_ = false;
  bool declared_ = false;  // the app announced the body's length: declared_length_
  uint64_t declared_length_ = 0;
  bool keep_alive_ = true;
  uint64_t bytes_sent_ = 0;  // body bytes, for the access log
};

}  // namespace cppicorn::worker
