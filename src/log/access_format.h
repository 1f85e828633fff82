// The access log's format language (gunicorn's access_log_format: "%(h)s %({name}i)s ...")
// compiled once into atoms: literal text and the values to look up for each request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cppicorn::log {

// clang-format off
enum class AtomKind : uint8_t {
  kLiteral, kRemoteAddr, kDash, kUser, kTime, kRequestLine, kMethod, kPath, kQuery, kProtocol,
  kStatus, kBytes, kBytesClf, kSeconds, kMillis, kMicros, kDecimalSeconds, kPid,
  kRequestHeader, kResponseHeader, kEnv, kTarget, kTlsProtocol, kTlsCipher, kUnknown
};
// clang-format on

// One compiled piece of the format: literal text, or a value to look up.
// `text` is the literal, the lower-case header name, or the environment variable name;
// `alt` the variable's upper-case name, tried next (gunicorn's environ keys ignore case).
struct Atom {
  AtomKind kind = AtomKind::kUnknown;
  std::string text = {};
  std::string alt = {};
};

// Compiles format; nullopt with *error ("bad access log format at offset N: ...") when it
// is not Python's %-formatting of named values.
std::optional<std::vector<Atom>> compile_access_format(std::string_view format, std::string* error);

}  // namespace cppicorn::log
