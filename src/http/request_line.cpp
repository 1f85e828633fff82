// Request-line syntax (RFC 9112 section 3): method, the four request-target forms, version.
//
// Exactly one SP between the parts; anything else (tabs, doubled spaces, HTTP/0.9's missing
// version) is rejected so the line has a single possible reading.
#include "http/chars.h"
#include "http/parse_detail.h"

namespace cppicorn::http::detail {
namespace {

// The path of an absolute-form target with an empty path ("http://h" or "http://h?q").
// Static storage: the one view in a Request that does not point into the input buffer.
constexpr std::string_view kRootPath = "/";

// A CR not followed by LF. Safe to peek: a LF follows somewhere in the line.
bool is_bare_cr(const char* p) { return *p == '\r' && p[1] != '\n'; }

void split_query(std::string_view s, Request& out) {
  size_t q = s.find('?');
  if (q == std::string_view::npos) {
    out.path = s;
    out.query = {};
  } else {
    out.path = s.substr(0, q);
    out.query = s.substr(q + 1);
  }
}

// authority-form (CONNECT only): uri-host ":" port, with a non-empty port.
bool valid_authority_form(std::string_view t) {
  size_t colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view port = t.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!chars::is_digit(c)) return false;
  }
  return chars::all_of(chars::kAuthority, t.substr(0, colon));
}

// absolute-form: "http" / "https" "://" authority [path-abempty] ["?" query]. Userinfo ('@')
// is refused (RFC 9110 4.2.4) and so is an empty host.
Error parse_absolute_form(std::string_view t, Request& out, std::string_view* authority) {
  size_t sep = t.find("://");
  if (sep == std::string_view::npos) return {400, "invalid request target"};
  std::string_view scheme = t.substr(0, sep);
  if (!chars::iequals(scheme, "http") && !chars::iequals(scheme, "https")) {
    return {400, "unsupported URI scheme"};
  }
  std::string_view rest = t.substr(sep + 3);
  size_t auth_end = rest.find_first_of("/?");
  std::string_view auth = rest.substr(0, auth_end);
  if (!chars::all_of(chars::kAuthority, auth) || auth.front() == ':') {
    return {400, "invalid authority in request target"};
  }
  *authority = auth;
  if (auth_end == std::string_view::npos) {
    out.path = kRootPath;
    out.query = {};
  } else if (rest[auth_end] == '?') {
    out.path = kRootPath;
    out.query = rest.substr(auth_end + 1);
  } else {
    split_query(rest.substr(auth_end), out);
  }
  return kOk;
}

Error classify_target(Request& out, std::string_view* authority) {
  std::string_view t = out.target;
  bool connect = out.method == "CONNECT";
  if (connect) {
    if (!valid_authority_form(t)) return {400, "CONNECT needs authority-form"};
    out.path = {};
    out.query = {};
    return kOk;
  }
  if (t.front() == '/') {
    split_query(t, out);
    return kOk;
  }
  if (t == "*") {
    if (out.method != "OPTIONS") return {400, "asterisk-form is only for OPTIONS"};
    out.path = t;
    out.query = {};
    return kOk;
  }
  return parse_absolute_form(t, out, authority);
}

// gunicorn's convention for methods (its default): 3 to 20 characters, none lower-case or '#'.
bool conventional_method(std::string_view m) {
  if (m.size() < 3 || m.size() > 20) return false;
  for (char c : m) {
    if ((c >= 'a' && c <= 'z') || c == '#') return false;
  }
  return true;
}

}  // namespace

Error parse_request_line(const char* p, const char* end, const Limits& limits, Request& out,
                         std::string_view* authority) {
  (void)end;  // a LF precedes `end`; every scan below stops at LF
  const bool permit_bare_lf = limits.permit_bare_lf;
  *authority = {};
  const char* s = p;
  while (chars::is(chars::kToken, *p)) ++p;
  if (*p != ' ' || p == s) {
    if (is_bare_cr(p)) return {400, "bare CR"};
    if (p != s && (*p == '\r' || *p == '\n')) return {400, "missing request target"};
    return {400, "invalid method"};
  }
  out.method = std::string_view(s, static_cast<size_t>(p - s));
  // As gunicorn: the convention is checked on the method as sent, then it may be folded
  // (so "get" needs permit_unconventional_method as well as casefold_method).
  if (!limits.permit_unconventional_method && !conventional_method(out.method)) {
    return {400, "unconventional method"};
  }
  if (limits.casefold_method) {
    // The caller's buffer is writable when this is on (see RequestParser::parse).
    for (char* c = const_cast<char*>(s); c != p; ++c) *c = chars::upper(*c);
  }
  s = ++p;
  while (chars::is(chars::kTarget, *p)) ++p;
  if (p == s) return {400, "empty request target"};
  if (*p != ' ') {
    if (is_bare_cr(p)) return {400, "bare CR"};
    if (*p == '\r' || *p == '\n') return {400, "HTTP/0.9 is not supported"};
    return {400, "invalid character in request target"};
  }
  out.target = std::string_view(s, static_cast<size_t>(p - s));
  s = ++p;
  while (*p != '\r' && *p != '\n') ++p;
  std::string_view version(s, static_cast<size_t>(p - s));
  if (is_bare_cr(p)) return {400, "bare CR"};
  if (*p == '\n' && !permit_bare_lf) return {400, "bare LF"};
  // RFC 9110 2.5: with permit_unconventional_version a later 1.x is answered as the highest
  // version we speak.
  const bool later_1x = limits.permit_unconventional_version && version.size() == 8 &&
                        version.substr(0, 7) == "HTTP/1." && chars::is_digit(version[7]);
  if (version == "HTTP/1.0") {
    out.version_minor = 0;
  } else if (version == "HTTP/1.1" || later_1x) {
    out.version_minor = 1;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
             chars::is_digit(version[5]) && version[6] == '.' && chars::is_digit(version[7])) {
    return {505, "HTTP version not supported"};
  } else {
    return {400, "invalid HTTP version"};
  }
  return classify_target(out, authority);
}

}  // namespace cppicorn::http::detail
