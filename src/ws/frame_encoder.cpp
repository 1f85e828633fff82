// Server-to-client frame headers and close payloads (RFC 6455 5.2, 5.5.1).
//
// Server frames are never masked, so the payload goes out as the app gave it, after a header
// of 2, 4 or 10 bytes rendered here.
#include <algorithm>
#include <cstring>

#include "ws/frame.h"

namespace cppicorn::ws {

FrameHeader frame_header(Opcode op, uint64_t payload, bool fin) {
  FrameHeader h;
  h.bytes[0] = static_cast<char>((fin ? 0x80 : 0) | static_cast<uint8_t>(op));
  if (payload < 126) {
    h.bytes[1] = static_cast<char>(payload);
    h.size = 2;
  } else if (payload <= 0xFFFF) {
    h.bytes[1] = 126;
    h.bytes[2] = static_cast<char>(payload >> 8);
    h.bytes[3] = static_cast<char>(payload);
    h.size = 4;
  } else {
    h.bytes[1] = 127;
    for (int i = 0; i < 8; ++i) h.bytes[2 + i] = static_cast<char>(payload >> (56 - 8 * i));
    h.size = 10;
  }
  return h;
}

ClosePayload close_payload(uint16_t code, std::string_view reason) {
  ClosePayload c;
  if (code == close_code::kNoStatus) return c;
  if (!valid_close_code(code)) code = close_code::kInternalError;
  c.bytes[0] = static_cast<char>(code >> 8);
  c.bytes[1] = static_cast<char>(code);
  size_t n = std::min(reason.size(), kMaxControlPayload - 2);
  // Never cut a character in two: back up over continuation bytes.
  if (n < reason.size()) {
    while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  }
  if (n > 0) std::memcpy(c.bytes.data() + 2, reason.data(), n);  // an empty view may be null
  c.size = static_cast<uint8_t>(2 + n);
  return c;
}

}  // namespace cppicorn::ws
