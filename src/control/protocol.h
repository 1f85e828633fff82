// The control socket's protocol: one request line from the client, one reply from the master.
//   request: VERB [ARG] [--json] "\n"      (status | workers +N|-N | reload | upgrade | stop)
//   reply:   "OK\n" or "ERROR\n", then the body (text, or JSON with --json), then EOF.
// The parser takes untrusted bytes (anyone who can open the socket): it is fuzzed.
#pragma once

#include <string>
#include <string_view>

namespace cppicorn::control {

enum class Verb { kStatus, kWorkers, kReload, kUpgrade, kStop };

struct Command {
  Verb verb = Verb::kStatus;
  int delta = 0;  // workers: +N or -N
  bool json = false;
  // Commands that change the server; the rest only read.
  bool writes() const { return verb != Verb::kStatus; }
};

inline constexpr size_t kMaxRequest = 1024;

// Parses one request line (without its newline). False with *error for anything else.
bool parse(std::string_view line, Command* out, std::string* error);

// A JSON string literal for s (quotes included), escaping what JSON requires.
std::string json_string(std::string_view s);

}  // namespace cppicorn::control
