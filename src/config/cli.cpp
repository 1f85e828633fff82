// Command-line parsing: CLI11 options generated from the table, plus the shell-like splitting
// of CPPICORN_CMD_ARGS. CLI11 only tokenises here (every option takes raw text); converting
// and validating is left to assign_text so CLI, env and YAML report errors the same way.
#include <CLI/CLI.hpp>
#include <memory>

#include "config/sources.h"

namespace cppicorn::config {
namespace {

constexpr Action kActions[] = {
    {"-h,--help", "", "Show this help and exit."},
    {"-v,--version", "", "Print the version and exit."},
    {"-c,--config", "FILE",
     "Read settings from this YAML file (FILE.yaml, .yml or .json; see cppicorn.yaml(5)), or "
     "from any other FILE (or python:MODULE) run as Python, as gunicorn does (without -c, "
     "./gunicorn.conf.py when there is one; see cppicorn-gunicorn(7)); the command line and "
     "$CPPICORN_CMD_ARGS override it."},
    {"--print-config", "", "Print the effective settings as a YAML config file and exit."},
    {"--check-config", "",
     "Validate the settings (and that an APP is given) and exit: 0 if they are valid, else "
     "1 with the error."},
};

// The long flags of every option, without dashes, for "did you mean" suggestions.
std::vector<std::string> long_flags() {
  std::vector<std::string> out;
  auto add = [&](std::string_view flags) {
    while (!flags.empty()) {
      size_t comma = flags.find(',');
      std::string_view f = flags.substr(0, comma);
      if (f.starts_with("--")) out.emplace_back(f.substr(2));
      flags = comma == std::string_view::npos ? std::string_view() : flags.substr(comma + 1);
    }
  };
  for (const Setting& s : settings_table()) add(s.flags);
  for (const Action& a : kActions) add(a.flags);
  for (const Foreign& f : foreign_table()) add(f.flags);
  return out;
}

// Turns what CLI11 left over into the message a user can act on.
std::string leftover_error(const std::vector<std::string>& rest) {
  const std::string& arg = rest.front();
  if (arg.size() > 1 && arg[0] == '-') {
    std::string name = arg.substr(0, arg.find('='));
    std::string msg = "unknown option '" + name + "'";
    if (name.starts_with("--")) {
      std::string guess = nearest(name.substr(2), long_flags());
      if (!guess.empty()) msg += " (did you mean '--" + guess + "'?)";
    }
    return msg;
  }
  return "unexpected argument '" + arg + "' (only one APP may be given)";
}

// Flags with an optional value (flag_value): "--proxy-protocol v2" and "--proxy-protocol=v2"
// become "--proxy-protocol=v2", and "--proxy-protocol" alone "--proxy-protocol=auto", so that
// CLI11 sees an ordinary option and a following APP is never taken as the value.
std::vector<std::string> with_flag_values(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const Setting* s = nullptr;
    for (const Setting& row : settings_table()) {
      if (!row.flag_value.empty() && !row.flags.empty() && primary_flag(row) == args[i]) s = &row;
    }
    if (s == nullptr) {
      out.push_back(args[i]);
      continue;
    }
    std::string next = i + 1 < args.size() ? args[i + 1] : std::string();
    if (!next.empty() && next[0] != '-' && s->check != nullptr && s->check(next).empty()) {
      out.push_back(args[i] + "=" + next);
      ++i;
    } else {
      out.push_back(args[i] + "=" + std::string(s->flag_value));
    }
  }
  return out;
}

}  // namespace

std::span<const Action> actions() { return kActions; }

CommandLine parse_command_line(const std::vector<std::string>& args) {
  CommandLine out;
  CLI::App app{"cppicorn"};
  app.set_help_flag();  // help is generated from the table, not by CLI11
  app.allow_extras();   // leftovers are reported by leftover_error, with suggestions
  auto take_all = [](CLI::Option* o) {
    return o->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  CLI::Option* help = app.add_flag(std::string(kActions[0].flags));
  CLI::Option* version = app.add_flag(std::string(kActions[1].flags));
  CLI::Option* config = take_all(app.add_option(std::string(kActions[2].flags)));
  CLI::Option* print = app.add_flag(std::string(kActions[3].flags));
  CLI::Option* check = app.add_flag(std::string(kActions[4].flags));
  std::vector<std::pair<const Setting*, CLI::Option*>> options;
  for (const Setting& s : settings_table()) {
    std::string names = s.flags.empty() ? std::string(s.meta) : std::string(s.flags);
    CLI::Option* o = is_bool(s)
                         ? app.add_flag(names)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                         : take_all(app.add_option(names));
    options.emplace_back(&s, o);
  }
  std::vector<std::pair<const Foreign*, CLI::Option*>> foreign;
  for (const Foreign& f : foreign_table()) {
    if (f.flags.empty()) continue;
    std::string names(f.flags);
    foreign.emplace_back(
        &f, f.value ? take_all(app.add_option(names))
                    : app.add_flag(names)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll));
  }

  std::vector<std::string> words = with_flag_values(args);
  std::vector<const char*> argv{"cppicorn"};
  for (const std::string& a : words) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11 says "--bind: 1 required TEXT missing"; its option name is all we keep.
    std::string what = e.what();
    out.error = what.substr(0, what.find(':')) + ": expected a value";
    return out;
  } catch (const CLI::ParseError& e) {
    out.error = e.what();
    return out;
  }
  if (!app.remaining().empty()) {
    out.error = leftover_error(app.remaining());
    return out;
  }
  out.help = help->count() > 0;
  out.version = version->count() > 0;
  out.print_config = print->count() > 0;
  out.check_config = check->count() > 0;
  out.config_files = config->results();
  for (auto& [setting, option] : options) {
    if (option->count() == 0) continue;
    // A negated flag (--no-sendfile) sets its bool to false however often it is given.
    out.values.emplace_back(
        setting, setting->negated ? std::vector<std::string>{"false"} : option->results());
  }
  for (auto& [f, option] : foreign) {
    if (option->count() == 0) continue;
    // The long flag, for the message ("--daemon" even when -D was given).
    std::string name = option->get_lnames().empty() ? "-" + option->get_snames().front()
                                                    : "--" + option->get_lnames().front();
    out.foreign.push_back({f, name, f->value ? option->results().back() : std::string("true")});
  }
  return out;
}

std::string split_shell(std::string_view text, std::vector<std::string>& words) {
  // POSIX shell word rules without expansions: '...' is literal, "..." allows \" \\ \$ \`,
  // and an unquoted backslash escapes the next character.
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (++i == text.size()) return "trailing backslash";
      if (text[i] != '\n') word += text[i];
    } else if (c == '\'') {
      size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos) return "unterminated single quote";
      word += text.substr(i + 1, end - i - 1);
      i = end;
    } else if (c == '"') {
      for (++i;; ++i) {
        if (i == text.size()) return "unterminated double quote";
        if (text[i] == '"') break;
        if (text[i] == '\\' && i + 1 < text.size() &&
            std::string_view("\"\\$`\n").find(text[i + 1]) != std::string_view::npos) {
          ++i;
          if (text[i] == '\n') continue;
        }
        word += text[i];
      }
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return "";
}

}  // namespace cppicorn::config
