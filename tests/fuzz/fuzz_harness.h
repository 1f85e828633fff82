// Shared pieces of the fuzz targets: limit presets from the first input byte, and the split
// feeding used to check that every segmentation of the input gives the same outcome.
//
// A different verdict for a different TCP segmentation would be a request-smuggling bug, so
// the targets compare whole, byte-at-a-time and pseudo-random splits, not just crash-freedom.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"

namespace cppicorn::fuzz {

// Preset 0 is the defaults; the others use small limits so the limit paths are reachable.
inline http::Limits preset(uint8_t selector) {
  http::Limits l;
  if (selector & 1) {
    l.request_line = 64;
    l.fields = 8;
    l.field_size = 64;
    l.head_size = 256;
    l.body = 100;
  }
  if (selector & 2) l.permit_bare_lf = true;
  if (selector & 4) l.underscores = http::Underscores::kRefuse;
  if (selector & 8) l.underscores = http::Underscores::kAllow;
  return l;
}

// Piece sizes for feeding `len` bytes: mode 0 whole, 1 bytewise, else pseudo-random from
// mode and salt.
inline std::vector<size_t> pieces(size_t len, uint32_t mode, uint32_t salt) {
  std::vector<size_t> out;
  if (mode == 0) return {len};
  uint32_t x = (mode ^ (salt * 2654435761u)) | 1;
  for (size_t done = 0; done < len;) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    size_t n = mode == 1 ? 1 : 1 + x % ((x >> 8) % 4 == 0 ? 97 : 5);
    n = std::min(n, len - done);
    out.push_back(n);
    done += n;
  }
  if (out.empty()) out.push_back(0);
  return out;
}

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

inline bool inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

inline bool valid_status(int s) {
  return s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505;
}

// The split check itself: `run(in, mode)` feeds `in` (the input after its first byte, which
// the caller reads as a selector) whole (mode 0), bytewise and in a pseudo-random split, and
// every feed must describe the same outcome.
template <typename Run>
int splits_agree(const uint8_t* data, size_t size, Run run) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string whole = run(in, 0);
  uint32_t seed = 2;
  for (size_t i = 0; i < size; ++i) seed = seed * 31 + data[i];
  const uint32_t modes[] = {1, seed | 2};
  for (uint32_t mode : modes) {
    if (run(in, mode) != whole) {
      std::fprintf(stderr, "split mode %u disagrees:\nwhole:\n%s\nsplit:\n%s\n", mode,
                   whole.c_str(), run(in, mode).c_str());
      std::abort();
    }
  }
  return 0;
}

// The body of the HTTP fuzz targets: the first byte picks the limits.
using Runner = std::string (*)(std::string_view in, const http::Limits& limits, uint32_t mode);
inline int check_splits_agree(const uint8_t* data, size_t size, Runner run) {
  if (size == 0) return 0;
  const http::Limits limits = preset(data[0]);
  return splits_agree(data, size,
                      [&](std::string_view in, uint32_t mode) { return run(in, limits, mode); });
}

}  // namespace cppicorn::fuzz
