#include "log/access_format.h"

#include <cctype>

#include "log/text.h"

namespace cppicorn::log {
namespace {

using text::lower;

// Maps the WSGI environ names gunicorn's {var}e sees onto the request; others are getenv().
Atom env_atom(const std::string& name) {
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "REMOTE_ADDR") return {AtomKind::kRemoteAddr, {}};
  if (upper == "REQUEST_METHOD") return {AtomKind::kMethod, {}};
  if (upper == "PATH_INFO") return {AtomKind::kPath, {}};
  if (upper == "QUERY_STRING") return {AtomKind::kQuery, {}};
  if (upper == "RAW_URI") return {AtomKind::kTarget, {}};
  if (upper == "SERVER_PROTOCOL") return {AtomKind::kProtocol, {}};
  if (upper == "SSL_PROTOCOL") return {AtomKind::kTlsProtocol, {}};  // "TLSv1.3", or "-"
  if (upper == "SSL_CIPHER") return {AtomKind::kTlsCipher, {}};
  if (upper.starts_with("HTTP_") && upper.size() > 5) {
    std::string header = name.substr(5);
    for (char& c : header) c = (c == '_') ? '-' : lower(c);
    return {AtomKind::kRequestHeader, header};
  }
  return {AtomKind::kEnv, name, upper};
}

// gunicorn's one-letter atoms; f and a are request headers.
struct Letter {
  char letter;
  AtomKind kind;
  const char* header;
};
constexpr Letter kLetters[] = {
    {'h', AtomKind::kRemoteAddr, ""},
    {'l', AtomKind::kDash, ""},
    {'u', AtomKind::kUser, ""},
    {'t', AtomKind::kTime, ""},
    {'r', AtomKind::kRequestLine, ""},
    {'m', AtomKind::kMethod, ""},
    {'U', AtomKind::kPath, ""},
    {'q', AtomKind::kQuery, ""},
    {'H', AtomKind::kProtocol, ""},
    {'s', AtomKind::kStatus, ""},
    {'B', AtomKind::kBytes, ""},
    {'b', AtomKind::kBytesClf, ""},
    {'f', AtomKind::kRequestHeader, "referer"},
    {'a', AtomKind::kRequestHeader, "user-agent"},
    {'T', AtomKind::kSeconds, ""},
    {'M', AtomKind::kMillis, ""},
    {'D', AtomKind::kMicros, ""},
    {'L', AtomKind::kDecimalSeconds, ""},
    {'p', AtomKind::kPid, ""},
};

Atom compile_atom(const std::string& name) {
  if (name.size() >= 3 && name.front() == '{') {
    size_t close = name.find('}');
    if (close != std::string::npos && close + 2 == name.size()) {
      std::string key = name.substr(1, close - 1);
      char type = name.back();
      if (type == 'e') return env_atom(key);
      for (char& c : key) c = lower(c);
      if (type == 'i') return {AtomKind::kRequestHeader, key};
      if (type == 'o') return {AtomKind::kResponseHeader, key};
    }
    return {AtomKind::kUnknown, {}};
  }
  if (name.size() != 1) return {AtomKind::kUnknown, {}};
  for (const auto& [letter, kind, header] : kLetters) {
    if (letter == name[0]) return {kind, header};
  }
  return {AtomKind::kUnknown, {}};
}

}  // namespace

std::optional<std::vector<Atom>> compile_access_format(std::string_view format,
                                                       std::string* error) {
  std::vector<Atom> atoms;
  auto literal = [&](std::string_view text) {
    if (atoms.empty() || atoms.back().kind != AtomKind::kLiteral)
      atoms.push_back({AtomKind::kLiteral, {}});
    atoms.back().text.append(text);
  };
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      literal(format.substr(i, 1));
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '%') {
      literal("%");
      ++i;
      continue;
    }
    // Python's "%(name)s": the name runs to the first ')'; "s" or "d" converts it.
    size_t close = format.find(')', i);
    if (i + 1 >= format.size() || format[i + 1] != '(' || close == std::string_view::npos ||
        close + 1 >= format.size() || (format[close + 1] != 's' && format[close + 1] != 'd')) {
      if (error)
        *error =
            "bad access log format at offset " + std::to_string(i) + ": expected %(name)s or %%";
      return std::nullopt;
    }
    atoms.push_back(compile_atom(std::string(format.substr(i + 2, close - i - 2))));
    i = close + 1;
  }
  return atoms;
}

}  // namespace cppicorn::log
