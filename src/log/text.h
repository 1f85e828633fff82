// Byte-level helpers for the access log. They append to a caller's string and never allocate
// beyond its growth, so rendering a line costs no allocation once the buffer is warm.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cppicorn::log::text {

// ASCII lower case; header names are ASCII tokens and locale must not matter.
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

// Appends s with '"' as \" (gunicorn's SafeAtoms) and control bytes as \xHH, so that a value
// can neither end a quoted field nor start a new line.
void append_escaped(std::string& out, std::string_view s);

// Appends n in decimal.
void append_number(std::string& out, uint64_t n);

// Appends the percent-decoded path, escaped; "-" when empty.
void append_decoded_path(std::string& out, std::string_view path);

// Appends the user of "Basic base64(user:password)", escaped. False, and out untouched, when
// the header is not Basic, does not decode, or names an empty user.
bool append_basic_user(std::string& out, std::string_view auth);

}  // namespace cppicorn::log::text
