// `cppicorn ctl`: the command-line client of the control socket.
#pragma once

#include <string>

namespace cppicorn::control {

// argv[0] is "ctl". Returns the exit code: 0 done, 1 the master refused or the command failed,
// 2 usage or connection errors.
int run_cli(int argc, char** argv);

// One request line sent, the whole reply read.
struct Reply {
  enum Outcome { kUnreachable, kOk, kError, kGone } outcome = kUnreachable;
  std::string body;  // the reply's body, or what went wrong (ending in "\n")
};
Reply ask(const std::string& path, std::string line);

struct TopOptions {
  double interval = 1;  // seconds between frames
  long iterations = 0;  // 0: until q or Ctrl-C
  bool json = false;    // one status document per line instead of a redrawn table
};
// `ctl top`: the status table, redrawn in place; returns the exit code.
int run_top(const std::string& path, const TopOptions& options);

}  // namespace cppicorn::control
