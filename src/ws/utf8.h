// Incremental UTF-8 validation (RFC 3629) for WebSocket text messages and close reasons.
//
// A text message may be split across frames and TCP segments anywhere, even inside a
// character, so the validator keeps the state of a pending multi-byte sequence between calls.
// It rejects overlong forms, surrogates (U+D800..U+DFFF) and code points above U+10FFFF as
// soon as the offending byte is seen (RFC 6455 8.1 lets an endpoint fail fast).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cppicorn::ws {

// Validates a byte stream fed in pieces; complete() tells whether it ended on a boundary.
// ASCII is skipped 32 and then 8 bytes at a time: most text payloads are mostly ASCII.
class Utf8Validator {
 public:
  // False as soon as the bytes so far cannot be the start of valid UTF-8.
  bool feed(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
      if (need_ == 0) {
        while (end - p >= 32) {
          uint64_t w[4];
          __builtin_memcpy(w, p, 32);
          if (((w[0] | w[1] | w[2] | w[3]) & kHigh) != 0) break;
          p += 32;
        }
        while (end - p >= 8) {
          uint64_t w;
          __builtin_memcpy(&w, p, 8);
          if ((w & kHigh) != 0) break;
          p += 8;
        }
        if (p == end) break;
        const unsigned char c = *p++;
        if (c < 0x80) continue;
        if (!lead(c)) return false;
        continue;
      }
      const unsigned char c = *p++;
      if (c < lo_ || c > hi_) return false;
      lo_ = 0x80;
      hi_ = 0xBF;
      --need_;
    }
    return true;
  }
  // True when no multi-byte sequence is left unfinished.
  bool complete() const { return need_ == 0; }
  void reset() { need_ = 0; }

 private:
  static constexpr uint64_t kHigh = 0x8080808080808080ull;

  // Starts a multi-byte sequence; the ranges of its first continuation byte exclude
  // overlongs (E0, F0), surrogates (ED) and values beyond U+10FFFF (F4).
  bool lead(unsigned char c) {
    if (c >= 0xC2 && c <= 0xDF) {
      need_ = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need_ = 2;
      lo_ = c == 0xE0 ? 0xA0 : 0x80;
      hi_ = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need_ = 3;
      lo_ = c == 0xF0 ? 0x90 : 0x80;
      hi_ = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;  // a stray continuation byte, C0/C1 (overlong) or F5..FF
    }
    return true;
  }

  uint8_t need_ = 0;  // continuation bytes still expected
  uint8_t lo_ = 0x80;
  uint8_t hi_ = 0xBF;  // allowed range of the next continuation byte
};

// Whole-string check, for close reasons.
inline bool valid_utf8(std::string_view s) {
  Utf8Validator v;
  return v.feed(s) && v.complete();
}

}  // namespace cppicorn::ws
