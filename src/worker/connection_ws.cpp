// The WebSocket side of Connection (asgi workers only; RFC 6455 and the ASGI websocket scope).
//
//   run_app: Upgrade: websocket -> ws_begin(): check the handshake (ws/handshake.h); invalid
//            is answered 400/426 here, valid goes to the app as a call (the websocket scope)
//   app:     websocket.accept -> WsSession::accept -> poke -> poked() -> ws_open(): the 101,
//            then the loop owns the socket again; websocket.close first -> 403 (HTTP path)
//   loop:    bytes -> ws_decode() -> messages to the app; pongs and close echoes out;
//            the app's frames (ws_pump) -> ws_flush(); a violation closes with its code
//   end:     the closing handshake, then our side of TCP shuts and the peer's FIN (or a
//            deadline) ends the socket; the connection is free once the app's call ended too
//
// An idle WebSocket is a read event and its timeout: no thread, no Python work. The timeout
// is the keepalive (ws_ping_interval): silence that long sends a ping, and silence for
// ws_ping_timeout after it fails the connection (1011), as uvicorn's. Any byte re-arms it;
// libevent restarts a persistent event's timeout on every read, so that costs no call.
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "worker/connection.h"
#include "worker/fork_guard.h"
#include "worker/worker.h"
#include "worker/ws_session.h"

namespace cppicorn::worker {
namespace {

namespace close_code = ws::close_code;

}  // namespace

app::WebSocket* Connection::websocket() { return ws_call_ ? ws_.get() : nullptr; }

uint16_t Connection::ws_stop_code() const {
  ScoreboardSlot& slot = worker_.slot();
  return slot.restarting.load(std::memory_order_relaxed) ||
                 slot.max_requests_reached.load(std::memory_order_relaxed)
             ? close_code::kServiceRestart
             : close_code::kGoingAway;
}

bool Connection::ws_begin() {
  ws::Offer offer;
  const ws::HandshakeError error = ws::check_handshake(request_, offer);
  keep_alive_ = false;
  if (error) {
    spdlog::debug("Refusing WebSocket handshake from {}: {} {}", remote_addr(), error.http_status,
                  error.reason);
    status_ = error.http_status;
    worker_.slot().count_rejection(status_);
    linger_ = true;
    ws::render_refusal(error, worker_.settings().server_header, worker_.date(), out_);
    write_pending();
    return false;
  }
  // Room for frames after the head, made now: growing the buffer later would parse the head
  // again while the app's thread may read it (the request line in an error's log line).
  ensure_input_space(4096);
  if (!ws_) ws_ = std::make_unique<WsSession>();
  ws_->reset(worker_.executor(), *this, static_cast<uint64_t>(worker_.settings().ws_max_size),
             offer);
  ws_call_ = true;
  ws_open_ = ws_app_done_ = ws_tcp_closed_ = ws_shut_ = ws_read_paused_ = ws_write_armed_ = false;
  ws_ping_sent_ = false;
  return true;
}

void Connection::poked() {
  if (body_wanted_.load(std::memory_order_acquire)) {  // try_read_body: read for the app
    arm_read(worker_.settings().body_timeout);
  }
  if (write_wanted_.load(std::memory_order_acquire)) {  // try_stream: write for the app
    const double t = worker_.settings().body_timeout;
    timeval tv = to_timeval(t);
    event_add(&write_ev_, t > 0 ? &tv : nullptr);
  }
  if (!ws_call_ || ws_tcp_closed_) return;  // late: the call or its socket is gone
  if (!ws_open_) {
    if (!ws_->accepted()) return;  // the app's thread still owns the connection
    ws_open();
    if (ws_tcp_closed_) return;
  }
  ws_pump(0);
}

// The app accepted: the loop owns the connection again (the app's thread now only touches
// the session). The 101 goes out, then whatever frames came with or after the handshake.
void Connection::ws_open() {
  ws_open_ = true;
  in_executor_ = false;
  read_parked_ = false;
  enter(State::kWebSocket);
  status_ = 101;
  out_.clear();
  out_sent_ = 0;
  ws::render_accept(ws_->key(), ws_->subprotocol(), fields_,
                    server_from_app_ ? std::string_view() : worker_.settings().server_header,
                    worker_.date(), out_);
  // Frames start after the head (a handshake has no body); the head stays for the log.
  if (raw_pos_ > head_len_) {
    std::memmove(in_.get() + head_len_, in_.get() + raw_pos_, in_len_ - raw_pos_);
    in_len_ -= raw_pos_ - head_len_;
  }
  raw_pos_ = head_len_;
  ws_arm_idle();
  if (stop_requested_ || worker_.stopping()) return ws_pump(ws_stop_code());
  ws_flush();
  if (!ws_tcp_closed_ && in_len_ > head_len_) ws_decode();
}

void Connection::ws_readable(short what) {
  if (ws_tcp_closed_) return;
  if (what & EV_TIMEOUT) {
    if (!ws_shut_ && !ws_->handshake().close_sent()) return ws_keepalive();
    // the peer's close frame, or its FIN, did not come in time
    ws_->handshake().lost();
    return close();
  }
  if (in_len_ == in_cap_) {  // cannot be: ws_begin left room, and frames leave <= 139 bytes
    ws_->handshake().lost();
    return close();
  }
  ssize_t n = io_recv(in_.get() + in_len_, in_cap_ - in_len_);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    if (!ws_->handshake().finished()) ws_->handshake().lost();
    return close();
  }
  if (n < 0) return;
  worker_.slot().add_bytes_in(static_cast<uint64_t>(n));
  if (ws_shut_) return;  // after our close: discarded until the peer's FIN
  if (ws_ping_sent_ && !ws_->handshake().close_sent()) {  // alive: back to the interval
    ws_ping_sent_ = false;
    ws_arm_idle();
  }
  in_len_ += static_cast<size_t>(n);
  ws_decode();
}

void Connection::ws_decode() {
  char* frames = in_.get() + head_len_;
  const size_t len = in_len_ - head_len_;
  const ws::FrameDecoder::Result r = ws_->decode(frames, len);
  if (r.status == ws::FrameDecoder::Result::kNeedMore) {
    const size_t left = len - r.consumed;  // an incomplete header or control frame
    if (left > 0 && r.consumed > 0) std::memmove(frames, frames + r.consumed, left);
    in_len_ = head_len_ + left;
  } else {
    in_len_ = head_len_;  // nothing after a close frame or a violation is read
  }
  if (r.status == ws::FrameDecoder::Result::kClosed) {
    WsSession::Outbound ignored;
    ws_->take_outbound(&out_, &ignored, true);  // the app's last frames go before the echo
  }
  out_.append(ws_->wire());  // pongs, the close echo
  ws_->wire().clear();
  if (r.status == ws::FrameDecoder::Result::kError) {
    spdlog::debug("Closing WebSocket from {}: {} ({})", remote_addr(), r.reason, r.close_code);
    ws_fail(r.close_code);
  } else if (r.status == ws::FrameDecoder::Result::kNeedMore && !ws_read_paused_ &&
             ws_->inbox_full()) {
    event_del(&read_ev_);  // until the app takes its messages (a poke with resume_read)
    ws_read_paused_ = true;
  }
  ws_flush();
}

// What the app's thread queued: frames, its close, a resumed read. server_code (non-zero):
// the server closes now with it (shutdown, the app's call ended) unless a close went out.
void Connection::ws_pump(uint16_t server_code) {
  if (ws_tcp_closed_) return;
  WsSession::Outbound asked;
  const bool closing = server_code != 0 || ws_->handshake().close_sent();
  ws_->take_outbound(&out_, &asked, closing);
  uint16_t code = asked.close ? asked.close_code : server_code;
  if (code != 0 && ws_->handshake().start(code)) {
    const ws::ClosePayload p = ws::close_payload(code, asked.close ? asked.close_reason : "");
    out_.append(ws::frame_header(ws::Opcode::kClose, p.size).view());
    out_.append(p.view());
    ws_->take_outbound(&out_, &asked, true);  // refuse the app's sends from here on
    // The peer has this long to answer our close; reading resumes for it.
    ws_read_paused_ = false;
    arm_read(std::max(0.05, std::min(5.0, worker_.settings().graceful_timeout)));
  } else if (asked.resume_read && ws_read_paused_) {
    ws_read_paused_ = false;
    ws_arm_idle();
  }
  ws_flush();
}

// A violation, or a peer that stopped answering: the app hears `code`, the close frame (if
// none went out yet) follows what is already in out_, and TCP ends without waiting for the
// peer's close (RFC 6455 7.1.7). The caller flushes.
void Connection::ws_fail(uint16_t code) {
  ws_->disconnect(code);
  if (!ws_->handshake().fail(code)) return;
  WsSession::Outbound ignored;
  std::string dropped;  // the app's frames may not follow a failure's close
  ws_->take_outbound(&dropped, &ignored, true);
  const ws::ClosePayload p = ws::close_payload(code);
  out_.append(ws::frame_header(ws::Opcode::kClose, p.size).view());
  out_.append(p.view());
}

// The read timeout while the WebSocket is open: the interval or, with a ping out, its
// deadline (0: none).
void Connection::ws_arm_idle() {
  const auto& s = worker_.settings();
  arm_read(ws_ping_sent_ ? s.ws_ping_timeout : s.ws_ping_interval);
}

// The open WebSocket was silent for the armed time: ping it, or fail it when the ping went
// unanswered. The ping goes after whatever frames wait in out_, as a whole frame.
void Connection::ws_keepalive() {
  if (ws_ping_sent_) {
    spdlog::debug("Closing WebSocket from {}: no answer to a ping in {} s", remote_addr(),
                  worker_.settings().ws_ping_timeout);
    ws_fail(close_code::kInternalError);  // 1011, as websockets' "keepalive ping timeout"
    return ws_flush();
  }
  ws_ping_sent_ = true;
  out_.append(ws::frame_header(ws::Opcode::kPing, 0).view());
  ws_arm_idle();
  ws_flush();
}

void Connection::ws_flush() {
  if (ws_tcp_closed_) return;
  while (out_sent_ < out_.size()) {
    iovec iov{out_.data() + out_sent_, out_.size() - out_sent_};
    ssize_t n = io_writev(&iov, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      ws_->handshake().lost();
      return close();
    }
    worker_.slot().add_bytes_out(static_cast<uint64_t>(n));
    out_sent_ += static_cast<size_t>(n);
  }
  if (out_sent_ == out_.size()) {
    if (out_.capacity() > (size_t{1} << 20)) std::string().swap(out_);  // after a big message
    out_.clear();
    out_sent_ = 0;
    if (ws_write_armed_) {
      event_del(&write_ev_);
      ws_write_armed_ = false;
    }
  } else if (!ws_write_armed_) {
    // A peer that takes nothing for body_timeout is gone.
    timeval tv = to_timeval(worker_.settings().body_timeout);
    event_add(&write_ev_, worker_.settings().body_timeout > 0 ? &tv : nullptr);
    ws_write_armed_ = true;
  }
  ws_->set_unsent(out_.size() - out_sent_);
  if (out_.empty() && ws_->handshake().finished() && !ws_shut_) {
    // Both close frames are through, or the connection failed: our side of TCP goes first
    // (RFC 6455 7.1.1), and what the peer still sends is discarded until its FIN, so no RST
    // can destroy the close frame before the peer has read it.
    ws_shut_ = true;
    tls_shutdown();
    tls_free();
    if (shutdown(fd_.get(), SHUT_WR) != 0) return close();
    arm_read(std::max(0.05, std::min(5.0, worker_.settings().graceful_timeout)));
  }
}

void Connection::ws_app_done() {
  ws_app_done_ = true;
  if (!ws_open_) ws_open();  // accepted, but the poke had not come yet
  if (ws_tcp_closed_) return close();
  ws_pump(app_ok_ ? close_code::kNormal : close_code::kInternalError);
}

// close() of a WebSocket: the socket goes now; the connection itself only when the app's
// call is over too (the app's thread may still use the session until then).
bool Connection::ws_hold() {
  if (!ws_open_) return false;
  if (!ws_tcp_closed_) {
    ws_tcp_closed_ = true;
    event_del(&read_ev_);
    event_del(&write_ev_);
    tls_shutdown();
    tls_free();
    ForkGuard::remove(fd_.get());
    fd_.reset();
    ws_->disconnect(ws_->handshake().peer_code());
  }
  if (!ws_app_done_) return true;
  ws_call_ = false;
  bytes_sent_ = ws_->payload_bytes();
  finish_request();  // the access log line: 101, with the bytes the app sent
  return false;
}

}  // namespace cppicorn::worker
