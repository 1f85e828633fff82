// Field-line syntax (RFC 9112 section 5), shared by request heads and chunked trailers.
//
// Strict: obs-fold, whitespace before the colon, non-token names and CTLs in values are all
// rejected rather than repaired, because repairs are where front and back ends disagree.
#include <array>

#include "http/chars.h"
#include "http/parse_detail.h"

namespace cppicorn::http::detail {

Error parse_field_line(const char* p, const char* end, bool permit_bare_lf, Header* out,
                       const char** next, bool strip_spaces) {
  // A LF exists before `end` and no class below accepts LF, so every scan stops at it.
  // A line starting with whitespace is either obs-fold (a continuation of the previous
  // field) or whitespace between the start-line and the first field: both are rejected.
  if (chars::is_ows(*p)) return {400, "obsolete line folding"};
  const char* name = p;
  while (chars::is(chars::kToken, *p)) ++p;
  const char* name_end = p;
  if (strip_spaces && p != name) {
    while (chars::is_ows(*p)) ++p;
  }
  if (*p != ':') {
    if (*p == '\r' && p[1] != '\n') return {400, "bare CR"};
    if (chars::is_ows(*p)) return {400, "whitespace before colon"};
    if (*p == '\r' || *p == '\n') return {400, "header line without colon"};
    return {400, "invalid header name"};
  }
  if (p == name) return {400, "empty header name"};
  out->name = std::string_view(name, static_cast<size_t>(name_end - name));
  ++p;
  while (chars::is_ows(*p)) ++p;
  const char* value = p;
  p = chars::skip_field_value(p, end);
  const char* value_end = p;
  if (*p == '\r') {
    if (p[1] != '\n') return {400, "bare CR"};
    *next = p + 2;
  } else if (*p == '\n') {
    if (!permit_bare_lf) return {400, "bare LF"};
    *next = p + 1;
  } else {
    return {400, "invalid character in header value"};
  }
  while (value_end > value && chars::is_ows(value_end[-1])) --value_end;
  out->value = std::string_view(value, static_cast<size_t>(value_end - value));
  return kOk;
}

bool forbidden_in_trailer(std::string_view name) {
  // Everything a recipient might act on before or instead of the body: framing, routing,
  // connection control, request modifiers, authentication and content metadata.
  static constexpr std::array<std::string_view, 24> kForbidden = {
      "authorization",
      "cache-control",
      "connection",
      "content-encoding",
      "content-length",
      "content-range",
      "content-type",
      "cookie",
      "expect",
      "host",
      "if-match",
      "if-modified-since",
      "if-none-match",
      "if-range",
      "if-unmodified-since",
      "keep-alive",
      "max-forwards",
      "proxy-authorization",
      "proxy-connection",
      "range",
      "te",
      "trailer",
      "transfer-encoding",
      "upgrade",
  };
  for (std::string_view f : kForbidden) {
    if (chars::iequals(name, f)) return true;
  }
  return false;
}

}  // namespace cppicorn::http::detail
