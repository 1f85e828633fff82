// Connection: one client socket inside a worker, driven by libevent through
//   [PROXY header] -> read head -> pre-read a small body -> app call -> write -> keep-alive.
// Only the app call (and a body too large to pre-read) blocks; everything else is evented.
// The app call is a Task handed to the worker's executor (executor.h): inline on the loop
// (sync), or on a pool thread (gthread), which then owns the connection until complete().
// On an asgi worker a WebSocket handshake becomes a call too; once the app accepts, the
// loop speaks frames (connection_ws.cpp) while the call runs on, until both are over.
#pragma once

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "app/app.h"
#include "http/parser.h"
#include "net/ip_allow.h"
#include "scoreboard/scoreboard.h"
#include "util/unique_fd.h"
#include "worker/executor.h"

namespace cppicorn::worker {

// Shared by the connection's files (connection.cpp defines them).
timeval to_timeval(double seconds);
// The first line of the head ("GET /x HTTP/1.1"), for logs and the scoreboard.
std::string_view request_line(const http::Request& r);

class Worker;
class WsSession;

struct PeerTrust;  // worker.h: the allow-lists of the worker

class Connection final : public app::Exchange, public Task {
 public:
  explicit Connection(Worker& worker);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts serving an accepted socket (non-blocking), over TLS when tls is set (the
  // handshake runs in the event loop first). The connection returns itself to the worker's
  // pool when it closes.
  void open(int fd, const sockaddr_storage& peer, SSL_CTX* tls = nullptr);
  // Graceful stop: close now if idle between requests, else after the current response.
  void stop_when_idle();
  bool idle() const { return state_ == State::kKeepAlive && in_len_ == 0; }
  // Loop thread: goes on with a request that was put off (Worker::defer) so that requests
  // which were ready before it are served first.
  void resume();
  // Loop thread: the complete request waiting in Worker's ready batch goes to the app now.
  void start_call() { run_app(); }
  // When this connection last had a request go to the app (a worker-wide count; 0: never):
  // within one poll's batch, the least recently served goes first.
  uint64_t last_served() const { return last_served_; }

  // Task: the app call on the executor's thread, then the response on the loop.
  void run() override;
  void end_call(bool ok) override;
  void complete() override;
  void ran_for(int64_t us) override;
  void poked() override;
  std::string_view what() const override { return request_line(request_); }

  // app::Call (an ASGI app's loop sees the connection as the Exchange of its call).
  app::Exchange* exchange() override { return this; }

  // app::Exchange
  const http::Request& request() const override { return request_; }
  // The client as the app sees it: the socket peer (or the PROXY header's source), or what a
  // trusted proxy says in X-Forwarded-* (resolved on first use per request).
  std::string_view remote_addr() const override;
  int remote_port() const override;
  std::string_view url_scheme() const override;
  std::string_view tls_var(std::string_view name) const override;
  int64_t read_body(void* buf, size_t len) override;
  int64_t try_read_body(void* buf, size_t len) override;
  int try_stream(const void* data, size_t len) override;
  int stream_flushed() const override;
  bool client_gone() const override { return client_gone_.load(std::memory_order_acquire); }
  bool body_complete() const override { return body_done_ && body_read_ == body_end_; }
  void set_status(int status) override { status_ = status; }
  bool set_reason(std::string_view reason) override;
  void add_header(std::string_view name, std::string_view value) override;
  void write(const void* data, size_t len) override;
  int stream(const void* data, size_t len) override;
  void set_content_length(uint64_t length) override;
  int send_file(int fd, int64_t offset, int64_t len) override;
  app::WebSocket* websocket() override;

 private:
  enum class State {
    kClosed,
    kHandshaking,
    kReadingProxy,
    kReadingHead,
    kReadingBody,
    kReady,  // complete, in the worker's ready batch (Worker::ready)
    kInApp,
    kWriting,
    kKeepAlive,
    kLingering,
    kWebSocket  // accepted: frames both ways, while the app's call runs
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
  ssize_t copy_file_chunk(off_t* off);
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
  // Sets fwd_scheme_ from a trusted peer's secure_scheme_headers; false if they disagree.
  bool resolve_scheme();
  // Body framing (connection_body.cpp).
  void start_body();
  bool pump_body();
  enum class ReadMore { kGot, kWouldBlock, kFailed, kNoRoom };
  // One recv into the body's space (kFailed sets the error status); kNoRoom: the buffer is
  // full and may_grow is false.
  ReadMore read_more(bool may_grow = true);
  bool send_continue();  // "100 Continue" before the first body read, when asked for
  bool read_more_blocking();
  // asgi: the app waits for body bytes (try_read_body); this reads them on the loop.
  void read_body_for_app(short what);
  // The app's thread: stream() that blocks (wait) or queues what the socket does not take.
  int stream_out(const void* data, size_t len, bool wait);
  int send_or_queue(bool wait, const char* a, size_t alen, const char* b, size_t blen,
                    std::string_view c = {});
  static int fill_iov(iovec* iov, const char* a, size_t alen, const char* b, size_t blen,
                      std::string_view c);
  // Writes iov[*first..count) until done or EAGAIN, advancing *first; false on an error.
  bool write_now(iovec* iov, int count, int* first);
  // asgi: writes backlog_ on the loop for an app that waits (try_stream).
  void flush_for_app(short what);
  // asgi: the socket turned readable during a call: a FIN or reset means the client left.
  void check_client_gone();
  bool ensure_input_space(size_t want);
  // WebSocket (connection_ws.cpp).
  bool ws_begin();
  void ws_open();
  void ws_readable(short what);
  void ws_decode();
  void ws_pump(uint16_t server_code);
  void ws_flush();
  void ws_arm_idle();
  void ws_keepalive();
  void ws_fail(uint16_t code);
  void ws_app_done();
  bool ws_hold();
  uint16_t ws_stop_code() const;
  void finish_request();  // the access log and counts of a request (connection_respond.cpp)
  // Blocking output for streamed bodies and 100 Continue (connection_body.cpp).
  bool send_all_blocking(const char* a, size_t alen, const char* b, size_t blen,
                         std::string_view c = {});

  // The transport: the plain socket, or TLS over it (connection_tls.cpp). The plain path is
  // the syscall it always was behind one predictable branch. Like recv/writev they return
  // -1 with errno (EAGAIN: wait for io_wait_events(), ECONNRESET: a TLS failure).
  ssize_t io_recv(char* buf, size_t len) {
    return ssl_ == nullptr ? ::recv(fd_.get(), buf, len, 0) : tls_recv(buf, len);
  }
  ssize_t io_writev(const iovec* iov, int count) {
    return ssl_ == nullptr ? ::writev(fd_.get(), iov, count) : tls_writev(iov, count);
  }
  // What poll(2) waits for after EAGAIN: `plain` for the socket, or what TLS asked for (a
  // read may need to write, and the reverse).
  short io_wait_events(short plain) const { return ssl_ == nullptr ? plain : tls_wants_; }
  void start_tls(SSL_CTX* ctx);
  bool make_ssl(SSL_CTX* ctx);
  bool read_proxy_before_tls();
  void wait_for_handshake(int ssl_error);  // SSL_ERROR_WANT_READ or _WRITE
  void handshake(short what);
  void handshake_failed(int ssl_error);
  ssize_t tls_recv(char* buf, size_t len);
  ssize_t tls_writev(const iovec* iov, int count);
  ssize_t tls_write(const char* data, size_t len);
  ssize_t tls_sendfile(off_t* offset, size_t len);
  ssize_t tls_failed(int ssl_error, bool reading);
  void tls_shutdown();
  void tls_free();

  Worker& worker_;
  UniqueFd fd_;
  event read_ev_{};
  event write_ev_{};
  State state_ = State::kClosed;
  bool stop_requested_ = false;
  bool deferred_ = false;  // waits in Worker::defer's queue
  // Loop-owned, never touched by a pool thread: the call is on the executor (gthread), and
  // the read event was unregistered because the socket turned readable meanwhile.
  bool in_executor_ = false;
  bool read_parked_ = false;
  uint64_t last_served_ = 0;
  bool app_ok_ = false;         // the app call succeeded (run() -> complete())
  bool stream_broken_ = false;  // a streamed body could not be finished: close
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
  std::string_view fwd_scheme_;  // set eagerly at each head, by resolve_scheme()

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
  // Set by the app's thread when try_read_body found nothing, cleared by the loop once it
  // read something for it: meanwhile only the loop touches the body's fields.
  std::atomic<bool> body_wanted_{false};
  // Likewise for a streamed write the socket did not take whole (try_stream): backlog_ holds
  // the rest, which the loop writes; backlog_failed_ says how that went.
  std::atomic<bool> write_wanted_{false};
  std::string backlog_;
  size_t backlog_sent_ = 0;
  bool backlog_failed_ = false;
  std::atomic<bool> client_gone_{false};  // check_client_gone() saw the peer close
  int body_error_status_ = 400;
  std::string_view body_error_reason_;
  bool continue_sent_ = false;

  // Response.
  int status_ = 200;
  std::string reason_;  // the app's reason phrase; empty: the registry's
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

  // WebSocket: the session (kept for reuse), and where it is. Loop-owned, except that the
  // app's thread reads ws_call_ (set before the call goes out, cleared after it is back).
  std::unique_ptr<WsSession> ws_;
  bool ws_call_ = false;         // the call is a WebSocket handshake
  bool ws_open_ = false;         // accepted: the 101 is out, frames flow
  bool ws_app_done_ = false;     // the app's call ended (complete())
  bool ws_tcp_closed_ = false;   // the socket is gone; the connection waits for the call
  bool ws_shut_ = false;         // our side of TCP is shut: input is discarded until EOF
  bool ws_read_paused_ = false;  // the app did not take the inbox: not reading
  bool ws_write_armed_ = false;
  bool ws_ping_sent_ = false;  // keepalive: a ping is out, nothing came since

  // TLS (null on a plain connection).
  SSL* ssl_ = nullptr;
  short tls_wants_ = 0;      // POLLIN or POLLOUT, after an EAGAIN from TLS
  bool tls_broken_ = false;  // a fatal TLS error: no close_notify may follow
  bool ktls_send_ = false;   // the kernel encrypts: SSL_sendfile works
  std::string client_s_dn_;  // a verified client certificate's subject and issuer
  std::string client_i_dn_;
  // Files over TLS without kTLS: read into this buffer, then SSL_write.
  std::unique_ptr<char[]> file_buf_;
  // The context to start TLS with once the PROXY header is read (ssl_ is not made yet).
  SSL_CTX* tls_after_proxy_ = nullptr;
  size_t file_buf_len_ = 0;
  size_t file_buf_pos_ = 0;
};

}  // namespace cppicorn::worker
