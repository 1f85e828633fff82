// Helpers of the WebSocket unit tests: client frames built by hand (masked with a given key,
// lengths in any encoding) and what the decoder reports for them, one word per event.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../conformance/ws_feed.h"
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

using conformance::Recorder;

// Events in one word each: "text:DATA", "binary:DATA", "ping:DATA", "pong:DATA",
// "close:CODE:REASON", and the verdict "error:CODE", "closed" or "incomplete".
inline std::vector<std::string> brief(const std::vector<conformance::Message>& events) {
  std::vector<std::string> out;
  for (const conformance::Message& m : events) {
    const std::string& o = m.at("outcome");
    if (o == "error") {
      out.push_back("error:" + m.at("status"));
    } else if (o == "close") {
      out.push_back("close:" + m.at("code") + ":" + m.at("reason"));
    } else if (m.count("data") != 0) {
      out.push_back(o + ":" + m.at("data"));
    } else {
      out.push_back(o);
    }
  }
  return out;
}

// Feeds `in` in pieces of `step` bytes (0: whole) and returns brief() of what was reported;
// `reason` receives the error's reason.
inline std::vector<std::string> decode_all(const std::string& in, size_t step = 0,
                                           uint64_t max_message = kDefaultMaxMessage,
                                           std::string* reason = nullptr) {
  std::vector<size_t> pieces;
  for (size_t done = 0; done < in.size() || pieces.empty();) {
    const size_t n = step == 0 ? in.size() : std::min(step, in.size() - done);
    pieces.push_back(n);
    done += n;
  }
  const std::vector<conformance::Message> events =
      conformance::feed_frames(in, max_message, pieces);
  if (reason != nullptr && events.back().count("reason") != 0) *reason = events.back().at("reason");
  return brief(events);
}

}  // namespace cppicorn::ws::test
