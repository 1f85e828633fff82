// Internal building blocks shared by RequestParser and ChunkedDecoder (not a public API).
//
// Each function validates one complete line that is known to end with LF before `end`, so the
// scanning loops can run on table lookups without bounds checks on every byte.
#pragma once

#include <string_view>

#include "http/parser.h"

namespace cppicorn::http::detail {

// A rejection: status 0 means no error. `reason` always points to static storage.
struct Error {
  int status = 0;
  std::string_view reason;
  explicit operator bool() const { return status != 0; }
};

inline constexpr Error kOk{};

// Parses one field line "name: value" starting at `p`, ending at the first LF before `end`.
// On success fills `out` (value without OWS) and sets `*next` past the line terminator.
// strip_spaces: whitespace between the name and the colon is skipped (gunicorn's
// --strip-header-spaces) instead of refused. A line starting with whitespace (obs-fold) is
// always refused here; the head parser joins it to the previous field when permitted.
Error parse_field_line(const char* p, const char* end, bool permit_bare_lf, Header* out,
                       const char** next, bool strip_spaces = false);

// Parses "method SP request-target SP HTTP-version" starting at `p` (LF guaranteed before
// `end`), filling method/target/path/query/version_minor of `out`. For absolute-form,
// `*authority` receives the target's authority (it overrides Host); otherwise it is cleared.
// The method is checked against gunicorn's convention unless limits.permit_unconventional_
// method, and upper-cased in place with limits.casefold_method.
Error parse_request_line(const char* p, const char* end, const Limits& limits, Request& out,
                         std::string_view* authority);

// True for fields that must not appear in a chunked trailer section (framing, routing,
// request modifiers, authentication, content handling; RFC 9110 6.5.1). `name` is any case.
bool forbidden_in_trailer(std::string_view name);

}  // namespace cppicorn::http::detail
