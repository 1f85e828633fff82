// FrameDecoder: client-to-server WebSocket frames (RFC 6455 5.2-5.5), checked rule by rule.
//
// Header rules are checked byte by byte as bytes arrive (the first byte's rules before the
// second byte is there), always in the same order, so any split of the input gives the same
// verdict. Data payloads are streamed; control frames are handled only once whole.
#include <algorithm>
#include <cstring>

#include "ws/frame.h"

namespace cppicorn::ws {
namespace {

bool is_control(uint8_t op) { return (op & 0x8) != 0; }
bool known_opcode(uint8_t op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

uint64_t load_be(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

using Result = FrameDecoder::Result;

Result stop(Result::Status status, size_t consumed) {
  Result r;
  r.status = status;
  r.consumed = consumed;
  return r;
}

}  // namespace

bool valid_close_code(uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code != 1004 && code != close_code::kNoStatus &&
         code != close_code::kAbnormal;
}

size_t FrameDecoder::reject(uint16_t code, std::string_view reason) {
  stage_ = Stage::kFailed;
  error_ = Result{Result::kError, 0, code, reason};
  return 0;
}

size_t FrameDecoder::header(const unsigned char* p, size_t avail) {
  using close_code::kProtocolError;
  if (avail == 0) return 0;
  const uint8_t b0 = p[0];
  const uint8_t op = b0 & 0x0F;
  const bool fin = (b0 & 0x80) != 0;
  if ((b0 & 0x70) != 0) return reject(kProtocolError, "reserved bits set");
  if (!known_opcode(op)) return reject(kProtocolError, "unknown opcode");
  if (is_control(op) && !fin) return reject(kProtocolError, "fragmented control frame");
  if (op == 0 && !in_message_) {
    return reject(kProtocolError, "continuation frame without a message");
  }
  if (op != 0 && !is_control(op) && in_message_) {
    return reject(kProtocolError, "new data frame inside a fragmented message");
  }
  if (avail < 2) return 0;
  const uint8_t b1 = p[1];
  if ((b1 & 0x80) == 0) return reject(kProtocolError, "unmasked client frame");
  uint64_t length = b1 & 0x7F;
  if (is_control(op) && length > kMaxControlPayload) {
    return reject(kProtocolError, "control frame over 125 bytes");
  }
  size_t size = 2;
  if (length == 126) {
    if (avail < 4) return 0;
    length = load_be(p + 2, 2);
    if (length < 126) return reject(kProtocolError, "length not minimally encoded");
    size = 4;
  } else if (length == 127) {
    if (avail < 10) return 0;
    length = load_be(p + 2, 8);
    if ((length >> 63) != 0) return reject(kProtocolError, "64-bit length with the high bit set");
    if (length <= 0xFFFF) return reject(kProtocolError, "length not minimally encoded");
    size = 10;
  }
  // A continuation adds to the message so far; message_size_ never exceeds max_message_, so
  // the subtraction cannot wrap.
  const uint64_t so_far = op == 0 ? message_size_ : 0;
  if (!is_control(op) && length > max_message_ - so_far) {
    return reject(close_code::kTooBig, "message over the size limit");
  }
  size += 4;
  if (avail < size) return 0;
  opcode_ = static_cast<Opcode>(op);
  fin_ = fin;
  length_ = length;
  std::memcpy(&mask_, p + size - 4, 4);
  phase_ = 0;
  return size;
}

void FrameDecoder::unmask(char* p, size_t n) {
  unsigned char key[4];
  std::memcpy(key, &mask_, 4);
  // The key rotated to the current phase and repeated to eight bytes: one XOR per word.
  unsigned char rotated[8];
  for (int i = 0; i < 8; ++i) rotated[i] = key[(phase_ + i) & 3];
  uint64_t k;
  std::memcpy(&k, rotated, 8);
  size_t i = 0;
  // 32 bytes per step as a GCC/Clang vector (SSE2 registers on any x86-64): GCC 12 at -O2
  // does not vectorize the word loop by itself, and payloads are mostly large or tiny.
  using Block = uint64_t __attribute__((vector_size(32)));
  const Block kb = {k, k, k, k};
  for (; i + 32 <= n; i += 32) {
    Block b;
    std::memcpy(&b, p + i, 32);
    b ^= kb;
    std::memcpy(p + i, &b, 32);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ rotated[i & 7]);
  phase_ = static_cast<uint8_t>((phase_ + n) & 3);
}

bool FrameDecoder::close_frame(const char* payload, size_t n, FrameVisitor& v) {
  if (n == 0) {
    v.on_close(close_code::kNoStatus, {});
    return true;
  }
  if (n == 1) {
    reject(close_code::kProtocolError, "close frame with a 1-byte payload");
    return false;
  }
  const auto code =
      static_cast<uint16_t>(load_be(reinterpret_cast<const unsigned char*>(payload), 2));
  if (!valid_close_code(code)) {
    reject(close_code::kProtocolError, "invalid close code");
    return false;
  }
  const std::string_view reason(payload + 2, n - 2);
  if (!valid_utf8(reason)) {
    reject(close_code::kInvalidData, "invalid UTF-8 in a close reason");
    return false;
  }
  v.on_close(code, reason);
  return true;
}

FrameDecoder::Result FrameDecoder::decode(char* buf, size_t len, FrameVisitor& v) {
  size_t p = 0;
  while (true) {
    switch (stage_) {
      case Stage::kFailed: {
        Result r = error_;
        r.consumed = p;
        return r;
      }
      case Stage::kClosed:
        return stop(Result::kClosed, p);
      case Stage::kHeader: {
        const size_t size = header(reinterpret_cast<const unsigned char*>(buf) + p, len - p);
        if (size == 0) {
          if (stage_ == Stage::kFailed) break;
          return stop(Result::kNeedMore, p);
        }
        if (is_control(static_cast<uint8_t>(opcode_))) {
          // Whole control frames only (at most 139 bytes stay unconsumed meanwhile).
          if (len - p - size < length_) return stop(Result::kNeedMore, p);
          char* payload = buf + p + size;
          const auto n = static_cast<size_t>(length_);
          unmask(payload, n);
          if (opcode_ == Opcode::kClose) {
            if (!close_frame(payload, n, v)) break;
            stage_ = Stage::kClosed;
          } else if (opcode_ == Opcode::kPing) {
            v.on_ping({payload, n});
          } else {
            v.on_pong({payload, n});
          }
          p += size + n;
          break;
        }
        p += size;
        if (opcode_ != Opcode::kContinuation) {
          in_message_ = true;
          message_type_ = opcode_;
          message_size_ = 0;
          utf8_.reset();
        }
        message_size_ += length_;
        remaining_ = length_;
        stage_ = Stage::kPayload;
        break;
      }
      case Stage::kPayload: {
        const auto n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - p));
        if (n == 0 && remaining_ > 0) return stop(Result::kNeedMore, p);
        char* piece = buf + p;
        unmask(piece, n);
        const bool text = message_type_ == Opcode::kText;
        if (text && !utf8_.feed({piece, n})) {
          reject(close_code::kInvalidData, "invalid UTF-8 in a text message");
          break;
        }
        p += n;
        remaining_ -= n;
        const bool last = remaining_ == 0 && fin_;
        if (last && text && !utf8_.complete()) {
          reject(close_code::kInvalidData, "text message ends inside a UTF-8 character");
          break;
        }
        if (n > 0 || last) v.on_data(message_type_, {piece, n}, last);
        if (remaining_ == 0) {
          stage_ = Stage::kHeader;
          if (fin_) in_message_ = false;
        }
        break;
      }
    }
  }
}

}  // namespace cppicorn::ws
