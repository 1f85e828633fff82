// Character classes of RFC 9110/9112 as 256-entry tables, and small string helpers.
//
// Table lookups keep the parse loops branch-light and free of per-byte calls; everything is
// constexpr so the tables live in .rodata.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cppicorn::http::chars {

using Table = std::array<bool, 256>;

// tchar: "!#$%&'*+-.^_`|~" / DIGIT / ALPHA (token characters, RFC 9110 5.6.2).
inline constexpr Table kToken = [] {
  Table t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// Bytes allowed inside a field value: SP / HTAB / VCHAR / obs-text. CR, LF, NUL, the other
// CTLs and DEL stop the scan, and the caller decides whether that is a line end or an error.
inline constexpr Table kFieldValue = [] {
  Table t{};
  t['\t'] = true;
  for (int c = 0x20; c < 0x7f; ++c) t[c] = true;
  for (int c = 0x80; c < 0x100; ++c) t[c] = true;
  return t;
}();

// Bytes allowed in a request-target: printable ASCII (RFC 3986) without '#' (a fragment is
// never sent), and raw bytes >= 0x80, which browsers and scripts do send unencoded and which
// nginx and gunicorn accept (they reach PATH_INFO as latin-1, as PEP 3333 says). They cannot
// end the path or split the line, so no two servers disagree on where the path ends.
inline constexpr Table kTarget = [] {
  Table t{};
  for (int c = 0x21; c < 0x7f; ++c) t[c] = true;
  t['#'] = false;
  for (int c = 0x80; c < 0x100; ++c) t[c] = true;
  return t;
}();

// reg-name / IPv4 / IP-literal / port characters accepted in Host and authorities:
// unreserved / sub-delims / pct-encoded / ":" / "[" / "]".
inline constexpr Table kAuthority = [] {
  Table t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=%:[]")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// Hex digit values, or -1.
inline constexpr std::array<int8_t, 256> kHex = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<int8_t>(c - 'A' + 10);
  return t;
}();

// Advances `p` over field-value bytes (SP, HTAB, VCHAR, obs-text) and returns the first other
// byte's position, never reading at or past `end`. Eight bytes at a time while no byte is a
// CTL or DEL (HTAB drops to the byte loop, which is exact): values dominate head size.
inline const char* skip_field_value(const char* p, const char* end) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  while (end - p >= 8) {
    uint64_t w;
    __builtin_memcpy(&w, p, 8);
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;  // some byte < 0x20
    const uint64_t d = w ^ (kOnes * 0x7f);
    const uint64_t del = (d - kOnes) & ~d & kHigh;  // some byte == 0x7f
    if ((below_space | del) != 0) break;
    p += 8;
  }
  while (p < end && kFieldValue[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

inline bool is(const Table& t, char c) { return t[static_cast<unsigned char>(c)]; }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

// ASCII case-insensitive equality; `lower_b` must already be lower case.
inline bool iequals(std::string_view a, std::string_view lower_b) {
  if (a.size() != lower_b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower_b[i]) return false;
  }
  return true;
}

// ASCII case-insensitive equality of two arbitrary strings.
inline bool iequals_any(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// True when every byte of `s` is in `t` (and `s` is non-empty).
inline bool all_of(const Table& t, std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is(t, c)) return false;
  }
  return true;
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls `fn` with each OWS-trimmed element of a comma-separated list (empty ones included).
template <typename Fn>
void for_each_element(std::string_view v, Fn fn) {
  while (true) {
    size_t comma = v.find(',');
    fn(trim_ows(v.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    v.remove_prefix(comma + 1);
  }
}

}  // namespace cppicorn::http::chars
