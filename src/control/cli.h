// `cppicorn ctl`: the command-line client of the control socket.
#pragma once

namespace cppicorn::control {

// argv[0] is "ctl". Returns the exit code: 0 done, 1 the master refused or the command failed,
// 2 usage or connection errors.
int run_cli(int argc, char** argv);

}  // namespace cppicorn::control
