// Parsing control requests and quoting JSON strings for the replies.
#include "control/protocol.h"

#include <fmt/format.h>

#include <charconv>
#include <vector>

namespace cppicorn::control {

bool parse(std::string_view line, Command* out, std::string* error) {
  if (line.size() > kMaxRequest) {
    *error = "request too long";
    return false;
  }
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    words.push_back(line.substr(i, j - i));
    i = j;
  }
  Command c;
  std::vector<std::string_view> args;
  for (std::string_view w : words) {
    if (w == "--json") {
      c.json = true;
    } else {
      args.push_back(w);
    }
  }
  if (args.empty()) {
    *error = "empty request (commands: status, workers +N|-N, reload, upgrade, stop)";
    return false;
  }
  std::string_view verb = args[0];
  size_t want_args = 1;
  if (verb == "status") {
    c.verb = Verb::kStatus;
  } else if (verb == "reload") {
    c.verb = Verb::kReload;
  } else if (verb == "upgrade") {
    c.verb = Verb::kUpgrade;
  } else if (verb == "stop") {
    c.verb = Verb::kStop;
  } else if (verb == "workers") {
    c.verb = Verb::kWorkers;
    want_args = 2;
    std::string_view n = args.size() > 1 ? args[1] : std::string_view();
    int value = 0;
    bool ok = n.size() > 1 && (n[0] == '+' || n[0] == '-');
    if (ok) {
      auto [end, ec] = std::from_chars(n.data() + 1, n.data() + n.size(), value);
      ok = ec == std::errc() && end == n.data() + n.size() && value >= 1 && value <= 1024;
    }
    if (!ok) {
      *error = "workers takes +N or -N (1 to 1024)";
      return false;
    }
    c.delta = n[0] == '-' ? -value : value;
  } else {
    std::string shown(verb.substr(0, 40));
    for (char& ch : shown)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '?';
    *error =
        fmt::format("unknown command '{}' (status, workers +N|-N, reload, upgrade, stop)", shown);
    return false;
  }
  if (args.size() != want_args) {
    *error =
        fmt::format("'{}' takes {} argument{}", verb, want_args - 1, want_args == 2 ? "" : "s");
    return false;
  }
  *out = c;
  return true;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace cppicorn::control
