// load(): combines the sources in precedence order, defaults < YAML < CPPICORN_CMD_ARGS <
// argv, and turns actions (--help, --print-config ...) into output and an exit code. It keeps
// no state between calls, so the arbiter can run it again on SIGHUP with the original argv.
#include <unistd.h>

#include <charconv>
#include <exception>
#include <filesystem>

#include "config/settings.h"
#include "config/sources.h"
#include "version/version.h"

extern char** environ;

namespace cppicorn::config {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitCheckFailed = 1;  // --check-config found a problem (as gunicorn)
constexpr int kExitUsage = 2;
constexpr char kDefaultPythonConfig[] = "gunicorn.conf.py";

// Applies one parsed command line; every value of a setting given there replaces the earlier
// source's (a repeated -b builds one list, which then replaces the file's list as a whole).
std::string apply(const CommandLine& cl, Settings& s, std::vector<std::string>& warnings) {
  for (const CommandLine::ForeignUse& use : cl.foreign) {
    std::string warning;
    if (std::string err = foreign_outcome(*use.setting, use.flag, use.value, &warning);
        !err.empty()) {
      return err;
    }
    if (!warning.empty()) warnings.push_back(std::move(warning));
  }
  for (const auto& [setting, values] : cl.values) {
    std::string err = is_list(*setting) && setting->list == ListStyle::kRepeat
                          ? assign_list(*setting, values, s)
                          : assign_text(*setting, values.back(), s);
    if (!err.empty()) return primary_flag(*setting) + ": " + err;
  }
  return "";
}

std::string action_in_env(const CommandLine& cl) {
  if (cl.help) return "--help";
  if (cl.version) return "--version";
  if (cl.print_config) return "--print-config";
  if (cl.check_config) return "--check-config";
  return "";
}

// Workers default to $WEB_CONCURRENCY (Heroku's convention, which gunicorn follows).
void apply_web_concurrency(const std::map<std::string, std::string>& env, LoadResult& r) {
  auto it = env.find("WEB_CONCURRENCY");
  if (it == env.end() || it->second.empty()) return;
  const std::string& v = it->second;
  int n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc() && end == v.data() + v.size() && n >= 1) {
    r.settings.workers = n;
  } else {
    r.warnings.push_back("WEB_CONCURRENCY='" + v + "' is not a positive integer; ignored");
  }
}

LoadResult load_or_throw(int argc, const char* const* argv,
                         const std::map<std::string, std::string>& env,
                         const std::string& base_dir) {
  LoadResult r;
  bool checking = false;
  auto fail = [&r, &checking](std::string msg) {
    r.exit_now = true;
    r.exit_code = checking ? kExitCheckFailed : kExitUsage;
    r.error = std::move(msg);
    return r;
  };
  auto finish = [&r](std::string output) {
    r.exit_now = true;
    r.exit_code = kExitOk;
    r.output = std::move(output);
    return r;
  };

  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  CommandLine cli = parse_command_line(args);
  if (!cli.error.empty()) return fail(cli.error);
  if (cli.help) return finish(help_text());
  if (cli.version) return finish(std::string("cppicorn ") + version() + "\n");
  checking = cli.check_config;

  CommandLine from_env;
  if (auto it = env.find("CPPICORN_CMD_ARGS"); it != env.end()) {
    std::vector<std::string> words;
    if (std::string err = split_shell(it->second, words); !err.empty()) {
      return fail("CPPICORN_CMD_ARGS: " + err);
    }
    from_env = parse_command_line(words);
    if (!from_env.error.empty()) return fail("CPPICORN_CMD_ARGS: " + from_env.error);
    if (std::string action = action_in_env(from_env); !action.empty()) {
      return fail("CPPICORN_CMD_ARGS: " + action + " is only accepted on the command line");
    }
  }

  apply_web_concurrency(env, r);
  const std::vector<std::string>& files =
      cli.config_files.empty() ? from_env.config_files : cli.config_files;
  std::string location = files.empty() ? std::string() : files.back();
  std::filesystem::path dir =
      base_dir.empty() ? std::filesystem::current_path() : std::filesystem::path(base_dir);
  // As gunicorn: without -c, ./gunicorn.conf.py is read when there is one.
  if (location.empty() && std::filesystem::is_regular_file(dir / kDefaultPythonConfig)) {
    location = kDefaultPythonConfig;
  }
  if (!location.empty()) {
    bool python = is_python_config(location);
    bool module = location.starts_with("python:");
    std::filesystem::path path = location.starts_with("file:") ? location.substr(5) : location;
    if (!module && path.is_relative()) path = dir / path;
    std::error_code ec;
    std::filesystem::path absolute = std::filesystem::absolute(path, ec);
    std::string name = module ? location
                       : ec   ? path.string()
                              : absolute.lexically_normal().string();
    std::string err = python ? read_python_file(name, r.settings, &r.warnings)
                             : read_yaml_file(path.string(), r.settings, &r.warnings);
    if (!err.empty()) return fail(err);
    r.settings.config_file = name;
  }
  if (std::string err = apply(from_env, r.settings, r.warnings); !err.empty()) {
    return fail("CPPICORN_CMD_ARGS: " + err);
  }
  if (std::string err = apply(cli, r.settings, r.warnings); !err.empty()) return fail(err);

  // Printing needs no APP, so a config can be generated before the app exists.
  if (cli.print_config) return finish(print_config(r.settings));
  if (r.settings.app.empty()) {
    return fail(
        "no application given (pass APP as MODULE:SYMBOL, or set 'app' in the "
        "config file)");
  }
  if (cli.check_config) return finish("");
  return r;
}

}  // namespace

LoadResult load(int argc, const char* const* argv, const std::map<std::string, std::string>& env,
                const std::string& base_dir) {
  // The contract is "never throws": an allocation failure or a CLI11 surprise becomes a
  // usage error rather than std::terminate in the arbiter's SIGHUP path.
  try {
    return load_or_throw(argc, argv, env, base_dir);
  } catch (const std::exception& e) {
    LoadResult r;
    r.exit_now = true;
    r.exit_code = kExitUsage;
    r.error = std::string("internal error while loading settings: ") + e.what();
    return r;
  }
}

LoadResult load(int argc, const char* const* argv, const std::map<std::string, std::string>& env) {
  return load(argc, argv, env, "");
}

void export_raw_env(const Settings& s) {
  for (const std::string& kv : s.raw_env) {  // check_env made sure of the '='
    size_t eq = kv.find('=');
    setenv(kv.substr(0, eq).c_str(), kv.c_str() + eq + 1, 1);
  }
}

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

}  // namespace cppicorn::config
