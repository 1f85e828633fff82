// WebSocket frames (RFC 6455 section 5): the strict, incremental decoder of client frames and
// the encoder of server frames.
//
// How the ASGI worker uses this module (issue #12): the C++ connection owns the socket and all
// framing. After the handshake (ws/handshake.h) it feeds received bytes to a FrameDecoder;
// payloads are unmasked in place in the connection's input buffer and reported as pieces of a
// message to a FrameVisitor. The connection appends the pieces of a data message to one
// reused buffer and hands the whole message to the asyncio side as a `websocket.receive`
// event; pings are answered with a pong by the connection itself, never by Python; a close
// frame becomes `websocket.disconnect` (ws/close.h tracks the closing handshake). A violation
// gives the close code to fail the connection with (1002, 1007, 1009) and the worker lives on.
// Outbound messages get a header from frame_header() into a small buffer, so header and
// payload go out in one writev without copying the payload.
//
// The message limit (kDefaultMaxMessage, 16 MiB as uvicorn's) is checked at each frame
// header, so an oversized message is refused (1009) before its payload is read. The decoder
// is ~100 bytes of state and allocates nothing: an idle WebSocket costs no thread and no
// buffer beyond the connection's own. No extensions are negotiated (no permessage-deflate),
// so every RSV bit is a violation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ws/utf8.h"

namespace cppicorn::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes (RFC 6455 7.4.1) the server uses or reports.
namespace close_code {
inline constexpr uint16_t kNormal = 1000;
inline constexpr uint16_t kGoingAway = 1001;
inline constexpr uint16_t kProtocolError = 1002;
inline constexpr uint16_t kInvalidData = 1007;  // bad UTF-8 in a text message
inline constexpr uint16_t kTooBig = 1009;
inline constexpr uint16_t kInternalError = 1011;
inline constexpr uint16_t kServiceRestart = 1012;
inline constexpr uint16_t kNoStatus = 1005;  // never sent: a close frame without a code
inline constexpr uint16_t kAbnormal = 1006;  // never sent: the connection dropped
}  // namespace close_code

// Whether a close frame may carry `code`: 1000-1003, 1007-1014 (1012-1014 are registered
// with IANA since RFC 6455; Autobahn's suite predates that) and 3000-4999 (libraries, apps).
bool valid_close_code(uint16_t code);

// The default message limit, as uvicorn's ws_max_size (16 MiB).
inline constexpr uint64_t kDefaultMaxMessage = uint64_t{16} * 1024 * 1024;
inline constexpr size_t kMaxControlPayload = 125;

// Receives what FrameDecoder finds. Views point into the buffer passed to decode() and are
// valid only during the call.
class FrameVisitor {
 public:
  virtual ~FrameVisitor() = default;
  // The next piece of a data message (`type` is kText or kBinary, never kContinuation).
  // `last` marks the final piece; the pieces of a message, in order, are the whole message.
  // Text pieces are valid UTF-8 so far (a character may span pieces). Pieces delivered
  // before a decode() error belong to a message that will never complete.
  virtual void on_data(Opcode type, std::string_view piece, bool last) = 0;
  virtual void on_ping(std::string_view payload) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  // A valid close frame; `code` is close_code::kNoStatus when it carried none.
  virtual void on_close(uint16_t code, std::string_view reason) = 0;
};

// Incremental decoder of the frames a client sends, strict per RFC 6455: one per connection.
// It keeps no payload: data is reported as it arrives and control frames from the buffer.
class FrameDecoder {
 public:
  struct Result {
    enum Status { kNeedMore, kClosed, kError } status = kNeedMore;
    size_t consumed = 0;      // input bytes used
    uint16_t close_code = 0;  // kError: the code to fail the connection with
    std::string_view reason;  // kError: short text for the log (static storage)
  };

  explicit FrameDecoder(uint64_t max_message = kDefaultMaxMessage) : max_message_(max_message) {}

  // Decodes frames from buf[0..len), unmasking payloads in place, and reports them to `v`.
  // Returns kNeedMore when the input is used up: an incomplete frame header or control frame
  // is left unconsumed (at most 14 + 125 bytes), and the next call must start with those
  // bytes. Returns kClosed after a close frame (later bytes are not read) and kError on a
  // violation; both repeat on every later call.
  Result decode(char* buf, size_t len, FrameVisitor& v);
  // True between messages with no frame begun: the peer has nothing half-sent.
  bool idle() const { return stage_ == Stage::kHeader && !in_message_; }

 private:
  enum class Stage { kHeader, kPayload, kClosed, kFailed };
  // Records a violation (stage kFailed); returns 0 so header() can return it directly.
  size_t reject(uint16_t code, std::string_view reason);
  // Validates the frame header at `p` (`avail` bytes) and takes in its fields. Returns its
  // size, or 0 when it is incomplete or was rejected (then stage_ is kFailed).
  size_t header(const unsigned char* p, size_t avail);
  // Unmasks n payload bytes of the current frame, continuing from phase_.
  void unmask(char* p, size_t n);
  // Validates a complete close frame's payload and reports it; false when rejected.
  bool close_frame(const char* payload, size_t n, FrameVisitor& v);

  uint64_t max_message_;
  Stage stage_ = Stage::kHeader;
  // The frame being read.
  Opcode opcode_ = Opcode::kContinuation;
  bool fin_ = false;
  uint64_t length_ = 0;
  uint64_t remaining_ = 0;  // payload bytes of a data frame not yet seen
  uint32_t mask_ = 0;       // the key as it sits in memory
  uint8_t phase_ = 0;       // payload bytes unmasked so far, mod 4
  // The data message being read (it may span frames).
  bool in_message_ = false;
  Opcode message_type_ = Opcode::kText;
  uint64_t message_size_ = 0;
  Utf8Validator utf8_;
  Result error_;  // kept so calls after an error repeat it
};

// Server frames are unmasked: 2 bytes plus a 16- or 64-bit extended length at most.
inline constexpr size_t kMaxServerHeader = 10;

struct FrameHeader {
  std::array<char, kMaxServerHeader> bytes{};
  uint8_t size = 0;
  std::string_view view() const { return {bytes.data(), size}; }
};

// The header of a server frame carrying `payload` bytes. Control frames (close, ping, pong)
// must have fin set and at most 125 bytes; the caller guarantees it.
FrameHeader frame_header(Opcode op, uint64_t payload, bool fin = true);

struct ClosePayload {
  std::array<char, kMaxControlPayload> bytes{};
  uint8_t size = 0;
  std::string_view view() const { return {bytes.data(), size}; }
};

// The payload of a close frame: `code` in network order and `reason` cut to 123 bytes on a
// character boundary. kNoStatus gives an empty payload (the echo of a close without a code);
// a code that may not be sent (valid_close_code) is replaced by kInternalError.
ClosePayload close_payload(uint16_t code, std::string_view reason = {});

}  // namespace cppicorn::ws
