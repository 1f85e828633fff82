// Helpers of the WebSocket unit tests: client frames built by hand (masked with a given key,
// lengths in any encoding) and a visitor that records what the decoder reports as text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ws/frame.h"

namespace cppicorn::ws::test {

// How to encode the payload length: the minimal form, or a forced 16- or 64-bit one.
enum class Len { kMinimal, k16, k64 };

// A client frame: first byte `b0` (FIN, RSV, opcode), the mask bit `masked`, the key and the
// payload masked with it.
inline std::string frame(uint8_t b0, const std::string& payload, uint32_t key = 0x37fa213d,
                         bool masked = true, Len len = Len::kMinimal) {
  std::string out(1, static_cast<char>(b0));
  const uint64_t n = payload.size();
  const char m = masked ? static_cast<char>(0x80) : 0;
  if (len == Len::kMinimal && n < 126) {
    out += static_cast<char>(m | static_cast<char>(n));
  } else if (len != Len::k64 && n <= 0xFFFF) {
    out += static_cast<char>(m | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n);
  } else {
    out += static_cast<char>(m | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>(n >> (8 * i));
  }
  const char k[4] = {static_cast<char>(key >> 24), static_cast<char>(key >> 16),
                     static_cast<char>(key >> 8), static_cast<char>(key)};
  if (masked) out.append(k, 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    out += masked ? static_cast<char>(payload[i] ^ k[i % 4]) : payload[i];
  }
  return out;
}

inline std::string text(const std::string& s, bool fin = true) {
  return frame(fin ? 0x81 : 0x01, s);
}
inline std::string binary(const std::string& s, bool fin = true) {
  return frame(fin ? 0x82 : 0x02, s);
}
inline std::string cont(const std::string& s, bool fin = true) {
  return frame(fin ? 0x80 : 0x00, s);
}
inline std::string ping(const std::string& s) { return frame(0x89, s); }
inline std::string pong(const std::string& s) { return frame(0x8A, s); }
inline std::string close(uint16_t code, const std::string& reason = "") {
  std::string p{static_cast<char>(code >> 8), static_cast<char>(code)};
  return frame(0x88, p + reason);
}

// Records events as "text:...", "binary:...", "ping:...", "pong:...", "close:CODE:reason";
// data pieces are joined into whole messages, and `pieces` counts on_data calls.
class Recorder : public FrameVisitor {
 public:
  void on_data(Opcode type, std::string_view piece, bool last) override {
    ++pieces;
    partial.append(piece);
    if (!last) return;
    events.push_back((type == Opcode::kText ? "text:" : "binary:") + partial);
    partial.clear();
  }
  void on_ping(std::string_view p) override { events.push_back("ping:" + std::string(p)); }
  void on_pong(std::string_view p) override { events.push_back("pong:" + std::string(p)); }
  void on_close(uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }

  std::vector<std::string> events;
  std::string partial;  // the message being received
  size_t pieces = 0;
};

// Feeds `in` in pieces of `step` bytes (0: whole), keeping unconsumed bytes as a connection
// would, and appends the verdict to the events: "error:CODE", "closed" or "needmore" (only
// when the decoder is not idle at the end).
inline std::vector<std::string> decode_all(const std::string& in, size_t step = 0,
                                           uint64_t max_message = kDefaultMaxMessage,
                                           std::string* reason = nullptr) {
  FrameDecoder dec(max_message);
  Recorder rec;
  std::string pending;
  FrameDecoder::Result r;
  for (size_t fed = 0; fed < in.size() || fed == 0;) {
    const size_t n = step == 0 ? in.size() : std::min(step, in.size() - fed);
    pending.append(in, fed, n);
    fed += n;
    r = dec.decode(pending.data(), pending.size(), rec);
    pending.erase(0, r.consumed);
    if (r.status != FrameDecoder::Result::kNeedMore || in.empty()) break;
  }
  if (reason != nullptr) *reason = std::string(r.reason);
  if (r.status == FrameDecoder::Result::kError) {
    rec.events.push_back("error:" + std::to_string(r.close_code));
  } else if (r.status == FrameDecoder::Result::kClosed) {
    rec.events.push_back("closed");
  } else if (!dec.idle()) {
    rec.events.push_back("needmore");
  }
  return rec.events;
}

}  // namespace cppicorn::ws::test
