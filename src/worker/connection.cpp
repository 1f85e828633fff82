#include "worker/connection.h"

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "http/response.h"
#include "log/access_log.h"
#include "worker/fork_guard.h"
#include "worker/worker.h"
#include "worker/ws_session.h"
#include "ws/handshake.h"

namespace cppicorn::worker {
namespace {

constexpr size_t kInitialBuffer = 16384;

}  // namespace

ConnState Connection::gauge(State s) {
  switch (s) {
    case State::kClosed:
      return ConnState::kNone;
    case State::kHandshaking:
    case State::kReadingProxy:
    case State::kReadingHead:
    case State::kReadingBody:
      return ConnState::kReading;
    case State::kReady:  // complete, waiting for its turn in the app
    case State::kInApp:
    case State::kWebSocket:
      return ConnState::kApp;
    case State::kWriting:
    case State::kLingering:
      return ConnState::kWriting;
    case State::kKeepAlive:
      return ConnState::kKeepAlive;
  }
  return ConnState::kNone;
}

void Connection::enter(State next) {
  worker_.slot().move_conn(gauge(state_), gauge(next));
  state_ = next;
}

timeval to_timeval(double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  return tv;
}

// The parser admits exactly "METHOD SP target SP HTTP/1.x", so the line ends 9 bytes after
// the target.
std::string_view request_line(const http::Request& r) {
  if (r.method.empty()) return {};
  const char* begin = r.method.data();
  const char* end = r.target.data() + r.target.size() + 9;
  return {begin, static_cast<size_t>(end - begin)};
}

Connection::Connection(Worker& worker)
    : worker_(worker),
      trust_(worker.trust()),
      in_(new char[kInitialBuffer]),
      in_cap_(kInitialBuffer),
      parser_(worker.limits()),
      chunked_(worker.limits().body, worker.limits()) {}

Connection::~Connection() {
  if (state_ != State::kClosed) {
    event_del(&read_ev_);
    event_del(&write_ev_);
  }
}

void Connection::open(int fd, const sockaddr_storage& peer, SSL_CTX* tls) {
  ForkGuard::add(fd);  // a child the app forks must not keep the client connected
  fd_.reset(fd);
  set_peer(peer);
  event_assign(&read_ev_, worker_.base(), fd, EV_READ | EV_PERSIST, on_read, this);
  event_assign(&write_ev_, worker_.base(), fd, EV_WRITE | EV_PERSIST, on_write, this);
  enter(State::kReadingHead);
  stop_requested_ = false;
  in_len_ = head_len_ = 0;
  parser_.reset();
  if (worker_.settings().proxy_protocol != "off") {
    // With the PROXY protocol on, the socket is meant for the proxy alone: anyone else is
    // either misconfigured or bypassing it, so it gets no HTTP service at all.
    if (!trust_.proxy.allows(peer)) {
      spdlog::debug("Closing connection from {}: not in proxy_allow_ips", remote_addr());
      enter(State::kReadingProxy);  // close() below needs an open state
      close();
      return;
    }
    enter(State::kReadingProxy);
  }
  if (tls != nullptr) return start_tls(tls);  // after the PROXY header, if any
  // The PROXY header (if any) and the request head share one header_timeout.
  start_head_deadline();
  // Most clients send the request right after connecting: read before registering with
  // epoll, so a connection served in one go (Connection: close) never touches epoll_ctl.
  readable(EV_READ);
  if ((state_ == State::kReadingHead || state_ == State::kReadingProxy) &&
      !event_pending(&read_ev_, EV_READ, nullptr)) {
    arm_head_timer();
  }
}

void Connection::stop_when_idle() {
  // An idle keep-alive connection stays until its keepalive timer or its next request, which
  // is answered with "Connection: close": closing it now could cross a request already on
  // the wire, and that client would see a reset instead of a response.
  // The wait is capped at a second, so a long keepalive cannot hold up a stop or reload.
  stop_requested_ = true;
  if (state_ == State::kKeepAlive) arm_read(std::min(worker_.settings().keepalive, 1.0));
  if (state_ == State::kWebSocket && !ws_tcp_closed_) ws_pump(ws_stop_code());
}

void Connection::on_read(evutil_socket_t, short what, void* self) {
  auto* c = static_cast<Connection*>(self);
  if (c->in_executor_) {  // only loop-owned fields here: a pool thread owns the rest
    if (c->body_wanted_.load(std::memory_order_acquire)) return c->read_body_for_app(what);
    if (c->worker_.asgi() && !c->ws_call_ && (what & EV_READ) != 0) c->check_client_gone();
    event_del(&c->read_ev_);
    c->read_parked_ = true;
    return;
  }
  c->readable(what);
}

void Connection::on_write(evutil_socket_t, short what, void* self) {
  auto* c = static_cast<Connection*>(self);
  if (c->write_wanted_.load(std::memory_order_acquire)) return c->flush_for_app(what);
  if (what & EV_TIMEOUT) {
    spdlog::debug("Closing connection from {}: write timed out", c->remote_addr());
    c->close();
    return;
  }
  if (c->state_ == State::kHandshaking) return c->handshake(what);
  if (c->state_ == State::kWebSocket) return c->ws_flush();
  c->write_pending();  // a next request already received waits its turn (request_done)
}

void Connection::start_head_deadline() {
  head_deadline_set_ = true;
  head_deadline_ =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(worker_.settings().header_timeout * 1000));
}

// The head's deadline is absolute: every byte of a trickled head re-arms the timer with what
// is left, never with a fresh header_timeout.
void Connection::arm_head_timer() {
  if (worker_.settings().header_timeout <= 0) return arm_read(0);
  if (!head_deadline_set_) start_head_deadline();
  auto left = std::chrono::duration<double>(head_deadline_ - std::chrono::steady_clock::now());
  arm_read(std::max(left.count(), 0.001));
}

void Connection::arm_read(double seconds) {
  if (seconds > 0) {
    timeval tv = to_timeval(seconds);
    event_add(&read_ev_, &tv);
  } else {
    event_add(&read_ev_, nullptr);
  }
  // Bytes OpenSSL holds (decrypted or read ahead) but we did not take yet never make the
  // socket readable.
  if (ssl_ != nullptr && SSL_has_pending(ssl_) == 1) event_active(&read_ev_, EV_READ, 0);
}

void Connection::readable(short what) {
  if (state_ == State::kWebSocket) return ws_readable(what);
  if (state_ == State::kLingering) return linger_readable(what);
  if (state_ == State::kReady) return;  // its turn comes in this turn of the loop
  if (state_ == State::kHandshaking) return handshake(what);
  if (what & EV_TIMEOUT) {
    if (state_ == State::kReadingHead && in_len_ > 0) {
      respond_error(408, "request head not received in time");
    } else if (state_ == State::kReadingBody) {
      respond_error(408, "request body not received in time");  // as for blocking reads
    } else {
      close();  // idle keep-alive, a silent new connection, or an unfinished PROXY header
    }
    return;
  }
  if (in_len_ == in_cap_ && !ensure_input_space(in_cap_)) {
    respond_error(431, "request head too large");
    return;
  }
  ssize_t n = io_recv(in_.get() + in_len_, in_cap_ - in_len_);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    close();
    return;
  }
  if (n < 0) return;
  worker_.slot().add_bytes_in(static_cast<uint64_t>(n));
  in_len_ += static_cast<size_t>(n);
  if (state_ == State::kKeepAlive) {
    // A head that arrives whole (the usual case) needs no deadline: it starts, lazily, only
    // when a head turns out incomplete, which saves a clock read per request.
    enter(State::kReadingHead);
    head_deadline_set_ = false;
  }
  process();
}

void Connection::process() {
  constexpr size_t kPrebuffer = 65536;  // bodies up to this size never block the worker
  while (state_ == State::kReadingProxy || state_ == State::kReadingHead ||
         state_ == State::kReadingBody) {
    if (state_ == State::kReadingProxy && !read_proxy_header()) return;
    if (state_ == State::kReadingHead) {
      if (in_len_ == 0) return;
      http::ParseResult r = parser_.parse({in_.get(), in_len_}, request_);
      if (r.status == http::ParseResult::kError) {
        respond_error(r.http_status, r.reason);
        return;
      }
      if (r.status == http::ParseResult::kIncomplete) {
        arm_head_timer();
        return;
      }
      head_len_ = r.consumed;
      forwarded_done_ = false;
      if (forwarded_trusted_ && !resolve_scheme()) {
        respond_error(400, "contradictory scheme headers");
        return;
      }
      if (worker_.access_log() != nullptr) {  // only the access log needs the timestamps
        started_ = std::chrono::system_clock::now();
        started_mono_ = std::chrono::steady_clock::now();
      }
      start_body();
      enter(State::kReadingBody);
    }
    pump_body();
    if (!body_done_ && !body_failed_ && !request_.expect_continue &&
        body_end_ - head_len_ < kPrebuffer && ensure_input_space(16384)) {
      arm_read(worker_.settings().body_timeout);
      return;
    }
    // Into this poll's batch of ready requests, served least recently served first. The
    // connection's next request (pipelined, or sent after this response) comes back
    // through the loop: see request_done().
    enter(State::kReady);
    worker_.ready(*this);
    return;
  }
}

void Connection::resume() {
  if (!deferred_) return;
  deferred_ = false;
  process();
}

void Connection::reset_response() {
  status_ = 200;
  reason_.clear();
  server_from_app_ = false;
  fields_.clear();
  body_.clear();
  out_.clear();
  out_sent_ = body_sent_ = 0;
  file_.reset();
  file_off_ = file_left_ = 0;
  file_buf_len_ = file_buf_pos_ = 0;
  streaming_ = head_sent_ = declared_ = false;
  declared_length_ = 0;
  bytes_sent_ = 0;
}

void Connection::run_app() {
  enter(State::kInApp);
  last_served_ = worker_.next_serial();
  reset_response();
  stream_broken_ = false;
  const config::Settings& s = worker_.settings();
  keep_alive_ = request_.keep_alive && s.keepalive > 0 && !stop_requested_ && !worker_.stopping() &&
                !worker_.last_request() && !worker_.over_share();
  if (body_failed_) {  // a malformed or oversized chunked body found before the app ran
    respond_error(body_error_status_, body_error_reason_);
    return;
  }
  // asgi: a WebSocket handshake is a call of its own kind (an invalid one is answered here).
  if (worker_.asgi() && ws::is_websocket_upgrade(request_) && !ws_begin()) return;
  if (worker_.threaded()) {
    // Handed over whole: the loop must not touch this connection until complete(). The read
    // event stays registered: unregistering it now and again after the call cost two
    // epoll_ctl per request (libevent turns even a del + add in one turn into an
    // EPOLL_CTL_MOD). Should it fire meanwhile (a pipelined request, the peer closing, the
    // keep-alive timer of a long call), on_read parks it instead, once.
    event_del(&write_ev_);
    in_executor_ = true;
    // asgi: a call may last (a long poll); the read event tells the app if the client
    // leaves meanwhile (check_client_gone). A request read on accept never registered it.
    if (worker_.asgi() && !event_pending(&read_ev_, EV_READ, nullptr)) {
      event_add(&read_ev_, nullptr);
    }
  }
  worker_.submit(*this);
}

// On the executor's thread, which owns the connection until complete(): no libevent, no
// Worker state, only this connection's socket and buffers.
void Connection::run() {
  bool ok = false;
  try {
    ok = worker_.app().handle(*this);
  } catch (const std::exception& e) {
    spdlog::error("Error handling request {}: {}", request_line(request_), e.what());
  } catch (...) {
    spdlog::error("Error handling request {}: unknown exception", request_line(request_));
  }
  end_call(ok);
}

// On the executor's thread, right after the app's call (run(), or an ASGI app's loop).
void Connection::end_call(bool ok) {
  app_ok_ = ok;
  if (!app_ok_ || !streaming_) return;
  if (backlog_failed_) {  // the loop could not write what try_stream queued
    stream_broken_ = true;
    return;
  }
  // A streamed body ends on the thread that streamed it, so the loop never blocks on a write.
  const bool has_body = request_.method != "HEAD" && http::status_allows_body(status_);
  if (declared_ && has_body && bytes_sent_ < declared_length_) {
    spdlog::warn("Response to {} ended {} bytes short of its Content-Length; closing",
                 request_line(request_), declared_length_ - bytes_sent_);
    stream_broken_ = true;  // the client must see a truncated response, never the next one
  } else if (!declared_ && has_body && request_.version_minor == 1 &&
             !send_all_blocking("0\r\n\r\n", 5, nullptr, 0)) {
    stream_broken_ = true;
  }
}

void Connection::ran_for(int64_t us) { worker_.slot().count_duration(us); }

void Connection::complete() {
  in_executor_ = false;
  body_wanted_.store(false, std::memory_order_relaxed);  // the app ended while it waited
  if (write_wanted_.exchange(false, std::memory_order_relaxed)) event_del(&write_ev_);
  client_gone_.store(false, std::memory_order_relaxed);
  backlog_failed_ = false;
  if (read_parked_) {  // fired while in the app: what arrived waits for request_done()
    read_parked_ = false;
    event_add(&read_ev_, nullptr);
  }
  worker_.call_done();
  if (ws_call_) {
    if (ws_open_ || ws_->accepted()) return ws_app_done();
    ws_call_ = false;  // refused (403) or failed before it was accepted: an HTTP response
  }
  if (state_ == State::kClosed) return;
  if (!app_ok_) {
    if (head_sent_) {
      close();  // the client sees a truncated response, never a wrong one
      return;
    }
    if (body_failed_) {  // the app gave up on a body that stalled or was malformed
      respond_error(body_error_status_, body_error_reason_);
      return;
    }
    spdlog::error("Error handling request {}: the app failed", request_line(request_));
    respond_error(500, "the application failed");
    return;
  }
  respond();
}

// Whether the request body is fully received, so the connection can carry the next request.
// An app may leave the body unread (or read half of it): what already arrived is skipped;
// the rest would have to be drained from the network, so the response says
// "Connection: close" instead (also the answer to an unmet "Expect: 100-continue").
bool Connection::body_settled() {
  if (!body_done_ && !body_failed_) pump_body();
  if (!body_done_) keep_alive_ = false;
  return body_done_;
}

// Closing a socket with unread input makes the kernel answer with RST, which can destroy the
// response before the client has read it (a 413 to a client still sending its body). So when
// input may be left, shut our side down and discard what still arrives, for a short while,
// as nginx's lingering close does. A clean close (the usual Connection: close) costs nothing.
void Connection::close_after_response() {
  bool unread = linger_ || !body_done_ || in_len_ > raw_pos_;
  if (!unread) return close();
  tls_shutdown();  // close_notify first; what still arrives is discarded undecrypted
  tls_free();
  if (shutdown(fd_.get(), SHUT_WR) != 0) return close();
  constexpr auto kLingerTime = std::chrono::seconds(2);
  enter(State::kLingering);
  linger_until_ = std::chrono::steady_clock::now() + kLingerTime;
  event_del(&write_ev_);
  arm_read(std::chrono::duration<double>(kLingerTime).count());
}

void Connection::linger_readable(short what) {
  if (what & EV_TIMEOUT) return close();
  for (int i = 0; i < 16; ++i) {  // bounded: a fast sender must not monopolise the loop
    ssize_t n = recv(fd_.get(), in_.get(), in_cap_, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return close();
    if (n < 0) break;
    worker_.slot().add_bytes_in(static_cast<uint64_t>(n));
  }
  if (std::chrono::steady_clock::now() >= linger_until_) close();
}

void Connection::close() {
  if (state_ == State::kClosed) return;
  if (ws_call_ && ws_hold()) return;  // the socket went, the app's call is still on
  event_del(&read_ev_);
  event_del(&write_ev_);
  tls_shutdown();
  tls_free();
  ForkGuard::remove(fd_.get());  // before close: the number is free for the app after it
  fd_.reset();
  file_.reset();
  linger_ = false;
  deferred_ = false;
  last_served_ = 0;
  enter(State::kClosed);
  worker_.connection_closed(this);
}

}  // namespace cppicorn::worker
