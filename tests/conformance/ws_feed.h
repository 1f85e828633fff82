// Feeds bytes to a ws::FrameDecoder the way a connection does and records what it reports,
// for the WebSocket unit tests, the ws conformance cases and the ws fuzz target alike.
//
// Each reported event is a Message (a map): data messages are joined from their pieces, and
// the last entry is the verdict: "error" (status = close code, reason), "closed" (rest =
// input bytes after the close frame) or "incomplete" (input ended inside a frame or message).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "case_file.h"
#include "ws/frame.h"

namespace cppicorn::conformance {

// Joins data pieces into messages and records control frames, in order.
class Recorder : public ws::FrameVisitor {
 public:
  void on_data(ws::Opcode type, std::string_view piece, bool last) override {
    ++pieces;
    partial.append(piece);
    if (!last) return;
    events.push_back(
        {{"outcome", type == ws::Opcode::kText ? "text" : "binary"}, {"data", partial}});
    partial.clear();
  }
  void on_ping(std::string_view p) override {
    events.push_back({{"outcome", "ping"}, {"data", std::string(p)}});
  }
  void on_pong(std::string_view p) override {
    events.push_back({{"outcome", "pong"}, {"data", std::string(p)}});
  }
  void on_close(uint16_t code, std::string_view reason) override {
    events.push_back(
        {{"outcome", "close"}, {"code", std::to_string(code)}, {"reason", std::string(reason)}});
  }

  std::vector<Message> events;
  std::string partial;  // the data message being received
  size_t pieces = 0;    // on_data calls
};

// Feeds `in` cut into `pieces` (sizes summing to in.size()), keeping unconsumed bytes for
// the next call, and returns the events plus the verdict.
inline std::vector<Message> feed_frames(std::string_view in, uint64_t max_message,
                                        const std::vector<size_t>& pieces,
                                        Recorder* recorder = nullptr) {
  ws::FrameDecoder dec(max_message);
  Recorder local;
  Recorder& rec = recorder != nullptr ? *recorder : local;
  std::string pending;
  size_t fed = 0;
  ws::FrameDecoder::Result r;
  for (size_t n : pieces) {
    pending.append(in.substr(fed, n));
    fed += n;
    r = dec.decode(pending.data(), pending.size(), rec);
    if (r.consumed > pending.size()) return {{{"outcome", "consumed beyond the input"}}};
    pending.erase(0, r.consumed);
    if (r.status != ws::FrameDecoder::Result::kNeedMore) break;
  }
  std::vector<Message> out = rec.events;
  switch (r.status) {
    case ws::FrameDecoder::Result::kError:
      out.push_back({{"outcome", "error"},
                     {"status", std::to_string(r.close_code)},
                     {"reason", std::string(r.reason)}});
      break;
    case ws::FrameDecoder::Result::kClosed:
      out.push_back(
          {{"outcome", "closed"}, {"rest", std::to_string(in.size() - fed + pending.size())}});
      break;
    case ws::FrameDecoder::Result::kNeedMore:
      if (!dec.idle() || !pending.empty()) out.push_back({{"outcome", "incomplete"}});
      break;
  }
  return out;
}

// The same bytes with every masked frame re-masked under `key` (wire order), which must not
// change what a decoder reports. Frames are walked by their headers only; the walk stops at
// a header it cannot read whole, and the bytes from there on stay as they were.
inline std::string remask(std::string in, uint32_t key) {
  const char k[4] = {static_cast<char>(key >> 24), static_cast<char>(key >> 16),
                     static_cast<char>(key >> 8), static_cast<char>(key)};
  auto byte = [&in](size_t i) { return static_cast<uint64_t>(static_cast<unsigned char>(in[i])); };
  size_t p = 0;
  while (in.size() - p >= 2) {
    uint64_t len = byte(p + 1) & 0x7F;
    size_t h = 2;
    if (len == 126) {
      if (in.size() - p < 4) break;
      len = byte(p + 2) << 8 | byte(p + 3);
      h = 4;
    } else if (len == 127) {
      if (in.size() - p < 10) break;
      len = 0;
      for (size_t i = 0; i < 8; ++i) len = len << 8 | byte(p + 2 + i);
      h = 10;
    }
    const size_t start = p + h + ((byte(p + 1) & 0x80) != 0 ? 4 : 0);
    if (start > in.size()) break;
    const size_t avail = static_cast<size_t>(std::min<uint64_t>(len, in.size() - start));
    if (start != p + h) {
      for (size_t i = 0; i < avail; ++i)
        in[start + i] ^= static_cast<char>(in[p + h + i % 4] ^ k[i % 4]);
      std::copy(k, k + 4, in.begin() + static_cast<std::ptrdiff_t>(p + h));
    }
    if (avail < len) break;
    p = start + avail;
  }
  return in;
}

}  // namespace cppicorn::conformance
