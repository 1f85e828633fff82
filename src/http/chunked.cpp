// ChunkedDecoder: the chunked transfer coding (RFC 9112 section 7.1), decoded in place.
//
// Chunk-size and trailer lines are handled whole (an incomplete one is left unconsumed and
// its scanned length remembered), data is moved down with memmove. Strict: CRLF only, hex
// sizes of at most 16 digits, well-formed extensions, no forbidden trailer fields.
#include <algorithm>
#include <cstring>

#include "http/chars.h"
#include "http/parse_detail.h"
#include "http/parser.h"

namespace cppicorn::http {
namespace {

constexpr size_t kMaxSizeDigits = 16;  // 64 bits; more is either padding or an attack
// Framing allowance: each chunk may spend 16 bytes plus its own size on framing (size line,
// extensions, CRLF); beyond that a debt of 16 KiB is tolerated. Tiny chunks and long
// extensions pass, but a stream that is mostly framing (a CPU/bandwidth sink carrying no
// body, cf. Go's CVE-2023-39326) is refused.
constexpr uint64_t kFramingCredit = 16;
constexpr uint64_t kMaxFramingDebt = uint64_t{16} * 1024;

// Skips a quoted-string starting at the DQUOTE at `p`; returns the byte after the closing
// DQUOTE, or nullptr when malformed.
const char* skip_quoted(const char* p, const char* end) {
  for (++p; p < end; ++p) {
    char c = *p;
    if (c == '"') return p + 1;
    if (c == '\\') {
      if (++p == end) return nullptr;
      c = *p;  // quoted-pair: HTAB / SP / VCHAR / obs-text
    } else if (c == '\t') {
      continue;
    }
    if (!chars::is(chars::kFieldValue, c)) return nullptr;
  }
  return nullptr;
}

// chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ), in [p, end).
bool valid_extensions(const char* p, const char* end) {
  auto skip_ws = [end](const char* q) {
    while (q < end && chars::is_ows(*q)) ++q;
    return q;
  };
  auto skip_token = [end](const char* q) {
    while (q < end && chars::is(chars::kToken, *q)) ++q;
    return q;
  };
  while (p < end) {
    p = skip_ws(p);
    if (p == end || *p != ';') return false;  // includes trailing whitespace
    p = skip_ws(p + 1);
    const char* name_end = skip_token(p);
    if (name_end == p) return false;
    p = name_end;
    const char* q = skip_ws(p);
    if (q == end || *q != '=') continue;  // whitespace before the next ';' is re-read
    q = skip_ws(q + 1);
    if (q < end && *q == '"') {
      p = skip_quoted(q, end);
      if (p == nullptr) return false;
    } else {
      p = skip_token(q);
      if (p == q) return false;
    }
  }
  return true;
}

// Early verdict on an incomplete chunk-size line, so junk is refused before its LF arrives.
// Only rules that the complete line would also fail on, and reported the same way.
bool bad_size_prefix(const char* p, size_t avail) {
  size_t digits = 0;
  while (digits < avail && chars::kHex[static_cast<unsigned char>(p[digits])] >= 0) ++digits;
  if (digits > kMaxSizeDigits) return true;
  return digits == 0 && avail > 0 && p[0] != '\r';
}

}  // namespace

void ChunkedDecoder::reset(uint64_t max_body) {
  state_ = State::kSize;
  max_body_ = max_body;
  remaining_ = 0;
  total_ = 0;
  line_scanned_ = 0;
  trailer_bytes_ = 0;
  trailer_fields_ = 0;
  framing_debt_ = 0;
  error_status_ = 0;
  error_reason_ = {};
}

ChunkedDecoder::Result ChunkedDecoder::fail(Result r, int status, std::string_view reason) {
  state_ = State::kFailed;
  error_status_ = status;
  error_reason_ = reason;
  r.status = Result::kError;
  r.http_status = status;
  r.reason = reason;
  return r;
}

ChunkedDecoder::Result ChunkedDecoder::decode(char* buf, size_t len) {
  Result r;
  size_t p = 0;    // next input byte
  size_t out = 0;  // next output byte (out <= p: framing is only ever removed)
  auto need_more = [&] {
    r.consumed = p;
    r.produced = out;
    return r;
  };
  // Finds the LF ending the line at `p`, resuming an earlier scan of the same line.
  auto find_lf = [&]() -> const char* {
    size_t from = p + (p == 0 ? std::min(line_scanned_, len) : 0);
    const void* hit = from < len ? std::memchr(buf + from, '\n', len - from) : nullptr;
    line_scanned_ = hit ? 0 : len - p;
    return static_cast<const char*>(hit);
  };
  while (true) {
    r.consumed = p;
    r.produced = out;
    switch (state_) {
      case State::kSize: {
        const char* lf = find_lf();
        if (lf == nullptr) {
          if (bad_size_prefix(buf + p, len - p)) return fail(r, 400, "invalid chunk size");
          if (len - p > kMaxSizeLine) return fail(r, 400, "chunk size line too long");
          return need_more();
        }
        const char* s = buf + p;
        if (lf == s || lf[-1] != '\r') return fail(r, 400, "bare LF in chunked body");
        const char* line_end = lf - 1;
        if (bad_size_prefix(s, static_cast<size_t>(line_end - s))) {
          return fail(r, 400, "invalid chunk size");
        }
        if (static_cast<size_t>(line_end - s) > kMaxSizeLine) {
          return fail(r, 400, "chunk size line too long");
        }
        uint64_t size = 0;
        const char* q = s;
        for (int8_t d; (d = chars::kHex[static_cast<unsigned char>(*q)]) >= 0; ++q) {
          size = (size << 4) | static_cast<uint64_t>(d);
        }
        if (q == s) return fail(r, 400, "invalid chunk size");
        if (!valid_extensions(q, line_end)) return fail(r, 400, "invalid chunk extension");
        if (max_body_ != 0 && size > max_body_ - total_) {
          return fail(r, 413, "request body too large");
        }
        const uint64_t framing = static_cast<uint64_t>(lf - s) + 1 + (size > 0 ? 2 : 0);
        const uint64_t credit =
            size > UINT64_MAX - kFramingCredit ? UINT64_MAX : size + kFramingCredit;
        framing_debt_ = framing_debt_ + framing > credit ? framing_debt_ + framing - credit : 0;
        if (framing_debt_ > kMaxFramingDebt)
          return fail(r, 400, "chunk framing overhead too large");
        p = static_cast<size_t>(lf + 1 - buf);
        remaining_ = size;
        state_ = size == 0 ? State::kTrailer : State::kData;
        break;
      }
      case State::kData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - p));
        if (n == 0) return need_more();
        if (out != p) std::memmove(buf + out, buf + p, n);
        out += n;
        p += n;
        remaining_ -= n;
        total_ += n;
        if (remaining_ > 0) return need_more();
        state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (p == len) return need_more();
        if (buf[p] != '\r') return fail(r, 400, "missing CRLF after chunk data");
        ++p;
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (p == len) return need_more();
        if (buf[p] != '\n') return fail(r, 400, "missing CRLF after chunk data");
        ++p;
        state_ = State::kSize;
        break;
      case State::kTrailer: {
        const char* lf = find_lf();
        const char* s = buf + p;
        size_t avail = lf ? static_cast<size_t>(lf - s) : len - p;
        size_t line_len = (avail > 0 && s[avail - 1] == '\r') ? avail - 1 : avail;
        if (line_len > max_field_size_) return fail(r, 431, "trailer field too large");
        if (trailer_bytes_ + avail + (lf ? 1 : 0) > max_trailer_) {
          return fail(r, 431, "trailer section too large");
        }
        if (lf == nullptr) return need_more();
        if (lf == s || lf[-1] != '\r') return fail(r, 400, "bare LF in chunked body");
        trailer_bytes_ += avail + 1;
        p = static_cast<size_t>(lf + 1 - buf);
        if (line_len == 0) {
          state_ = State::kDone;
          r.status = Result::kDone;
          r.consumed = p;
          return r;
        }
        if (++trailer_fields_ > max_fields_) return fail(r, 431, "too many trailer fields");
        Header h;
        const char* next = nullptr;
        if (auto err = detail::parse_field_line(s, buf + len, false, &h, &next)) {
          return fail(r, err.status, err.reason);
        }
        if (detail::forbidden_in_trailer(h.name)) return fail(r, 400, "forbidden trailer field");
        break;  // trailers are validated, then dropped
      }
      case State::kDone:
        r.status = Result::kDone;
        return r;
      case State::kFailed:
        return fail(r, error_status_, error_reason_);
    }
  }
}

}  // namespace cppicorn::http
