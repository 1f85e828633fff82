// The WebSocket closing handshake (RFC 6455 7.1): who sent close first, what to echo, and
// when the TCP connection may go.
//
// The connection asks this helper before sending a close frame, so that exactly one is sent:
// the server's own (the app's websocket.close, 1001 at shutdown, 1012 at restart), the echo
// of the peer's, or the one that fails the connection after a violation. The peer's code goes
// to the app in websocket.disconnect (1005 if its close had none, 1006 if none came).
#pragma once

#include <cstdint>
#include <optional>

#include "ws/frame.h"

namespace cppicorn::ws {

// State of one connection's closing handshake; a few flags, no I/O.
class CloseHandshake {
 public:
  // The server closes with `code`: true when that close frame must be sent now, false when
  // a close frame was sent already.
  bool start(uint16_t code) {
    if (sent_) return false;
    sent_ = true;
    sent_code_ = code;
    server_first_ = !received_;
    return true;
  }
  // The peer's close frame arrived (`code` kNoStatus when it had none). Returns the code of
  // the echo to send now (kNoStatus: an empty close), or nothing when ours went first.
  std::optional<uint16_t> received(uint16_t code) {
    received_ = true;
    peer_code_ = code;
    if (!start(code)) return std::nullopt;
    return code;
  }
  // A violation, with the decoder's code: true when that close frame must be sent. The TCP
  // connection then closes without waiting for the peer's close (RFC 6455 7.1.7).
  bool fail(uint16_t code) {
    failed_ = true;
    return start(code);
  }
  // The TCP connection ended (or timed out) without a close frame from the peer.
  void lost() { failed_ = true; }

  // Both close frames are out and in, or the connection failed: close TCP now. After an
  // exchange the server closes first (RFC 6455 7.1.1).
  bool finished() const { return failed_ || (sent_ && received_); }
  bool close_sent() const { return sent_; }
  bool close_received() const { return received_; }
  bool server_first() const { return sent_ && server_first_; }
  uint16_t sent_code() const { return sent_code_; }
  // For websocket.disconnect: the peer's code, kNoStatus for a close without one, and
  // kAbnormal when no close frame came.
  uint16_t peer_code() const { return received_ ? peer_code_ : close_code::kAbnormal; }

 private:
  bool sent_ = false;
  bool received_ = false;
  bool failed_ = false;
  bool server_first_ = false;
  uint16_t sent_code_ = 0;
  uint16_t peer_code_ = 0;
};

}  // namespace cppicorn::ws
