// RequestParser: finds the end of the head incrementally, enforcing limits as bytes arrive,
// then validates the fields and derives framing (RFC 9112 sections 2-7).
//
// Lines are located with memchr and only their offsets are kept between calls, so a caller may
// grow (and move) its buffer freely while the head is incomplete. Limit checks are arranged so
// the outcome is the same however the input is split: a violation is reported at the byte
// where it first becomes certain, as if the input had arrived one byte at a time.
#include "http/parser.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "http/chars.h"
#include "http/parse_detail.h"

namespace cppicorn::http {
namespace {

constexpr size_t kNever = std::numeric_limits<size_t>::max();

// What the field lines said about framing and connection handling, folded as they are read.
struct FieldFacts {
  size_t hosts = 0;
  std::string_view host;
  size_t content_lengths = 0;
  std::string_view content_length;
  size_t content_types = 0;
  bool transfer_encoding = false;
  bool te_malformed = false;
  size_t chunked = 0;
  size_t other_codings = 0;
  bool close = false;
  bool keep_alive = false;
  bool expect_continue = false;
  bool expect_other = false;
};

void note_field(const Header& h, FieldFacts& f) {
  // Dispatch on length first: most fields are none of these and cost one switch.
  switch (h.name.size()) {
    case 4:
      if (chars::iequals(h.name, "host")) {
        ++f.hosts;
        f.host = h.value;
      }
      break;
    case 6:
      if (chars::iequals(h.name, "expect")) {
        (chars::iequals(h.value, "100-continue") ? f.expect_continue : f.expect_other) = true;
      }
      break;
    case 10:
      if (chars::iequals(h.name, "connection")) {
        chars::for_each_element(h.value, [&f](std::string_view t) {
          if (chars::iequals(t, "close")) f.close = true;
          if (chars::iequals(t, "keep-alive")) f.keep_alive = true;
        });
      }
      break;
    case 12:
      if (chars::iequals(h.name, "content-type")) ++f.content_types;
      break;
    case 14:
      if (chars::iequals(h.name, "content-length")) {
        ++f.content_lengths;
        f.content_length = h.value;
      }
      break;
    case 17:
      if (chars::iequals(h.name, "transfer-encoding")) {
        f.transfer_encoding = true;
        // Codings are merged across repeated fields; empty elements and parameters are
        // refused rather than skipped, as no sender needs them with plain "chunked".
        chars::for_each_element(h.value, [&f](std::string_view c) {
          if (!chars::all_of(chars::kToken, c)) {
            f.te_malformed = true;
          } else if (chars::iequals(c, "chunked")) {
            ++f.chunked;
          } else {
            ++f.other_codings;
          }
        });
      }
      break;
    default:
      break;
  }
}

// 1*DIGIT, leading zeros allowed; no sign, space, list or overflow.
detail::Error parse_content_length(std::string_view v, uint64_t* out) {
  if (v.empty()) return {400, "invalid Content-Length"};
  uint64_t n = 0;
  for (char c : v) {
    if (!chars::is_digit(c)) return {400, "invalid Content-Length"};
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      return {400, "Content-Length overflow"};
    }
    n = n * 10 + d;
  }
  *out = n;
  return detail::kOk;
}

// obs-fold (RFC 9112 5.2), when permitted: the line at `p` continues `prev`'s value. The
// line break and the whitespace around it become spaces in the buffer, so the value stays
// one contiguous view. `prev` null: the field it continues was dropped, and so is this.
detail::Error unfold(const char* p, const char* end, Header* prev, const char** next) {
  const char* line = p;
  while (chars::is_ows(*p)) ++p;
  const char* value_end = chars::skip_field_value(p, end);
  if (*value_end != '\r' || value_end[1] != '\n') {
    return {400, *value_end == '\r' || *value_end == '\n' ? "bare CR or LF in folded line"
                                                          : "invalid character in header value"};
  }
  *next = value_end + 2;
  if (prev == nullptr) return detail::kOk;
  while (value_end > p && chars::is_ows(value_end[-1])) --value_end;
  // The buffer is writable when permit_obsolete_folding is on (see RequestParser::parse).
  for (char* c = const_cast<char*>(prev->value.data() + prev->value.size()); c < line; ++c) {
    *c = ' ';
  }
  for (char* c = const_cast<char*>(line); c < p; ++c) *c = ' ';
  if (prev->value.empty()) {
    prev->value = std::string_view(p, static_cast<size_t>(value_end - p));
  } else {
    prev->value =
        std::string_view(prev->value.data(), static_cast<size_t>(value_end - prev->value.data()));
  }
  return detail::kOk;
}

}  // namespace

const Header* Request::find(std::string_view name) const {
  for (const Header& h : headers) {
    if (chars::iequals_any(h.name, name)) return &h;
  }
  return nullptr;
}

void RequestParser::reset() {
  scanned_ = 0;
  stage_ = Stage::kRequestLine;
  line_start_ = 0;
  request_line_ = 0;
  fields_start_ = 0;
  fields_ = 0;
  authority_ = {};
}

bool RequestParser::forwarded_name(std::string_view name) const {
  if (!forwarder_trusted_) return false;
  return std::any_of(limits_.forwarder_headers.begin(), limits_.forwarder_headers.end(),
                     [&](const std::string& f) { return f == "*" || chars::iequals_any(name, f); });
}

ParseResult RequestParser::fail(int status, std::string_view reason) {
  reset();
  ParseResult r;
  r.status = ParseResult::kError;
  r.http_status = status;
  r.reason = reason;
  return r;
}

ParseResult RequestParser::parse(std::string_view buf, Request& out) {
  const char* b = buf.data();
  const size_t n = buf.size();
  if (scanned_ > n) reset();  // the caller restarted with a shorter buffer
  bool line_parsed_now = false;
  size_t pos = scanned_;
  while (true) {
    const void* hit = pos < n ? std::memchr(b + pos, '\n', n - pos) : nullptr;
    const size_t e = hit ? static_cast<size_t>(static_cast<const char*>(hit) - b) : n;
    const bool request_line = stage_ == Stage::kRequestLine;
    // A field line's limit counts its CRLF, as gunicorn's limit_request_field_size does.
    const size_t line_limit = request_line
                                  ? limits_.request_line
                                  : limits_.field_size - std::min<size_t>(limits_.field_size, 2);
    // Line content so far; a final CR may be (or become) the terminator, so it never counts.
    const bool cr_last = e > line_start_ && b[e - 1] == '\r';
    const size_t len = e - line_start_ - (cr_last ? 1 : 0);
    // Offsets (as "bytes received") at which each limit was first certainly exceeded.
    size_t line_at = kNever;
    if (len > line_limit) {
      line_at = line_start_ + line_limit + 1 + (b[line_start_ + line_limit] == '\r' ? 1 : 0);
    }
    const size_t received = hit ? e + 1 : n;
    const size_t head_at = received > limits_.head_size ? limits_.head_size + 1 : kNever;
    auto limit_error = [&] {
      if (line_at <= head_at) {
        return request_line ? fail(414, "request line too long")
                            : fail(431, "header field too large");
      }
      return fail(431, "request head too large");
    };
    if (std::min(line_at, head_at) <= e) return limit_error();
    if (!hit) {
      scanned_ = n;
      return ParseResult{};
    }
    // The LF has arrived: line-end checks, in the order a byte-at-a-time feed would see them.
    if (!cr_last && !limits_.permit_bare_lf) return fail(400, "bare LF");
    const size_t next = e + 1;
    if (len > 0 && !request_line && ++fields_ > limits_.fields) {
      return fail(431, "too many header fields");
    }
    if (std::min(line_at, head_at) <= next) return limit_error();
    if (len == 0) {
      if (!request_line) return finish(buf, next, line_parsed_now, out);
      // RFC 9112 2.2: empty lines before the request-line are ignored (any number, bounded
      // by head_size), e.g. a CRLF some clients send after a POST body.
    } else if (request_line) {
      // Parsed as soon as complete, so a bad line (or an HTTP/0.9 client, which sends no
      // header section) is answered without waiting for the rest of the head.
      if (auto err =
              detail::parse_request_line(b + line_start_, b + n, limits_, out, &authority_)) {
        return fail(err.status, err.reason);
      }
      line_parsed_now = true;
      request_line_ = line_start_;
      fields_start_ = next;
      stage_ = Stage::kFields;
    }
    line_start_ = pos = next;
  }
}

ParseResult RequestParser::finish(std::string_view buf, size_t consumed, bool line_parsed_now,
                                  Request& out) {
  const char* b = buf.data();
  const char* end = b + buf.size();
  if (!line_parsed_now) {
    // Parsed in an earlier call whose buffer may since have moved: refresh the views.
    if (auto err = detail::parse_request_line(b + request_line_, end, limits_, out, &authority_)) {
      return fail(err.status, err.reason);
    }
  }
  out.headers.clear();
  out.body = BodyKind::kNone;
  out.content_length = 0;
  out.expect_continue = false;
  out.host = {};
  FieldFacts facts;
  const char* p = b + fields_start_;
  const char* blank = b + line_start_;
  bool dropped = false;  // the previous field was dropped (so is its continuation)
  while (p < blank) {
    if (limits_.permit_obsolete_folding && chars::is_ows(*p) && p != b + fields_start_) {
      if (auto err = unfold(p, end, dropped ? nullptr : &out.headers.back(), &p)) {
        return fail(err.status, err.reason);
      }
      continue;
    }
    Header h;
    if (auto err = detail::parse_field_line(p, end, limits_.permit_bare_lf, &h, &p,
                                            limits_.strip_header_spaces)) {
      return fail(err.status, err.reason);
    }
    dropped = limits_.underscores != Underscores::kAllow &&
              h.name.find('_') != std::string_view::npos && !forwarded_name(h.name);
    if (dropped) {
      // Dropped: a proxy may map "X_Foo" and "X-Foo" to the same CGI variable (spoofing).
      if (limits_.underscores == Underscores::kRefuse) {
        return fail(400, "underscore in header name");
      }
      continue;
    }
    out.headers.push_back(h);
  }
  // After the fields are complete: a folded value counts whole.
  for (const Header& h : out.headers) note_field(h, facts);

  const bool v11 = out.version_minor == 1;
  if (facts.hosts > 1) return fail(400, "multiple Host headers");
  if (facts.hosts == 0 && v11) return fail(400, "missing Host header");
  if (!facts.host.empty() && !chars::all_of(chars::kAuthority, facts.host)) {
    return fail(400, "invalid Host header");
  }
  // RFC 9112 3.2.2: an absolute-form target's authority overrides Host.
  out.host = authority_.empty() ? facts.host : authority_;

  if (facts.transfer_encoding) {
    if (facts.content_lengths > 0) return fail(400, "Transfer-Encoding with Content-Length");
    if (!v11) return fail(400, "Transfer-Encoding in HTTP/1.0");
    if (facts.te_malformed) return fail(400, "invalid Transfer-Encoding");
    if (facts.chunked > 1) return fail(400, "chunked applied twice");
    if (facts.other_codings > 0) return fail(501, "unsupported transfer coding");
    out.body = BodyKind::kChunked;
  } else if (facts.content_lengths > 0) {
    // Even identical repeats are refused: the strictest reading of RFC 9112 6.3.
    if (facts.content_lengths > 1) return fail(400, "multiple Content-Length headers");
    if (auto err = parse_content_length(facts.content_length, &out.content_length)) {
      return fail(err.status, err.reason);
    }
    if (limits_.body != 0 && out.content_length > limits_.body) {
      return fail(413, "request body too large");
    }
    out.body = BodyKind::kLength;
  }
  // Two media types for one body: which one an app or a cache believes is anyone's guess.
  if (facts.content_types > 1) return fail(400, "multiple Content-Type headers");
  if (facts.expect_other) return fail(417, "unsupported expectation");
  // RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
  out.expect_continue = facts.expect_continue && v11;
  out.keep_alive = facts.close ? false : (facts.keep_alive || v11);

  reset();
  ParseResult r;
  r.status = ParseResult::kComplete;
  r.consumed = consumed;
  return r;
}

}  // namespace cppicorn::http
