// Byte-level helpers for the access log: escaping, numbers, percent- and base64-decoding.
#include "log/text.h"

#include <charconv>

namespace cppicorn::log::text {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Appends a string value: '"' as \" (gunicorn's SafeAtoms), control bytes as \xHH.
void append_escaped(std::string& out, std::string_view s) {
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c != '"' && c >= 0x20 && c != 0x7f) continue;
    out.append(s.data() + start, i - start);
    if (c == '"') {
      out.append("\\\"");
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      char esc[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
      out.append(esc, 4);
    }
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
}

void append_number(std::string& out, uint64_t n) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, static_cast<size_t>(res.ptr - buf));
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

// PATH_INFO is percent-decoded in gunicorn's environ, so %(U)s is too.
void append_decoded_path(std::string& out, std::string_view path) {
  if (path.empty()) {
    out.push_back('-');
    return;
  }
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%' && i + 2 < path.size() && hex_value(path[i + 1]) >= 0 &&
        hex_value(path[i + 2]) >= 0) {
      c = static_cast<char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
      i += 2;
    }
    append_escaped(out, std::string_view(&c, 1));
  }
}

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

// The user name of "Authorization: Basic base64(user:password)", decoded straight into out
// up to the ':'. Returns false (out untouched) when there is none.
bool append_basic_user(std::string& out, std::string_view auth) {
  if (auth.size() < 6 || !iequals(auth.substr(0, 6), "basic ")) return false;
  std::string_view b64 = auth.substr(6);
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
  size_t mark = out.size();
  uint32_t bits = 0;
  int nbits = 0;
  for (char ch : b64) {
    if (ch == '=') break;
    int v = base64_value(ch);
    if (v < 0) {
      out.resize(mark);
      return false;
    }
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      char byte = static_cast<char>((bits >> nbits) & 0xff);
      if (byte == ':') break;
      append_escaped(out, std::string_view(&byte, 1));
    }
  }
  if (out.size() == mark) return false;  // empty user: gunicorn logs "-"
  return true;
}

}  // namespace cppicorn::log::text
