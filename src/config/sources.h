// The readers (command line, CPPICORN_CMD_ARGS, YAML file) and writers (--help,
// --print-config) that load() combines. Internal to src/config.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/table.h"

namespace cppicorn::config {

// A command-line option that is an action rather than a setting (--help, -c ...).
// Listed here so --help shows them next to the generated settings.
struct Action {
  std::string_view flags;
  std::string_view meta;
  std::string_view doc;
};
std::span<const Action> actions();

// One parsed argument vector (argv or CPPICORN_CMD_ARGS), not yet applied to Settings.
// Values stay text so conversion errors are reported by the same code for every source.
struct CommandLine {
  bool help = false;
  bool version = false;
  bool print_config = false;
  bool check_config = false;
  std::vector<std::string> config_files;  // every -c given (the last one counts)
  // Each setting given, in table order, with all its values in order of appearance.
  std::vector<std::pair<const Setting*, std::vector<std::string>>> values;
  // gunicorn settings without an equivalent that were given: the flag as written, the value.
  struct ForeignUse {
    const Foreign* setting;
    std::string flag;
    std::string value;
  };
  std::vector<ForeignUse> foreign;
  std::string error;  // "unknown option '--wokers' (did you mean '--workers'?)"
};

// Parses arguments (without the program name) with CLI11, options generated from the table.
CommandLine parse_command_line(const std::vector<std::string>& args);

// Splits a shell-like string (quotes, backslash escapes) into words, as a shell would build
// argv. Returns "" or an error such as "unterminated double quote".
std::string split_shell(std::string_view text, std::vector<std::string>& words);

// Applies the YAML file at `path` on top of `out`. Returns "" or "FILE:LINE: message";
// gunicorn keys without an equivalent add "FILE:LINE: key: message" to *warnings.
std::string read_yaml_file(const std::string& path, Settings& out,
                           std::vector<std::string>* warnings);

// Applies the Python config at `location` (FILE.py, file:FILE or python:MODULE) on top of
// `out`, through the reader main() installed; errors as read_yaml_file's. Names that are no
// setting are ignored, as gunicorn does.
std::string read_python_file(const std::string& location, Settings& out,
                             std::vector<std::string>* warnings);

// --help text, generated from the table, grouped by section.
std::string help_text();
// The effective settings as a YAML document that -c reads back to the same Settings.
std::string print_config(const Settings& s);

}  // namespace cppicorn::config
