// A Python config file (gunicorn.conf.py): the Python plugin runs it and lists its
// module-level names; here each name that is a setting goes through the settings table as a
// YAML value would, with errors naming FILE:LINE and the key. Names that are no setting are
// ignored, as gunicorn ignores them; gunicorn's spellings (accesslog, preload_app...) are
// mapped to the table's, and its hooks are left to the plugin, which keeps the callables.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include "config/sources.h"

namespace cppicorn::config {
namespace {

PythonConfigReader g_reader = nullptr;

// gunicorn's config-file names whose setting is spelled otherwise here.
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kRenamed = {{
    {"preload_app", "preload"},
    {"accesslog", "access_logfile"},
    {"errorlog", "error_logfile"},
    {"loglevel", "log_level"},
    {"wsgi_app", "app"},
}};

// gunicorn's server hooks (gunicorn/config.py): callables the plugin keeps.
constexpr std::array<std::string_view, 15> kHooks = {
    "on_starting",      "on_reload",  "when_ready",   "pre_fork",         "post_fork",
    "post_worker_init", "worker_int", "worker_abort", "pre_exec",         "pre_request",
    "post_request",     "child_exit", "worker_exit",  "nworkers_changed", "on_exit"};

std::string_view table_name(std::string_view name) {
  for (auto [gunicorn, ours] : kRenamed) {
    if (name == gunicorn) return ours;
  }
  return name;
}

// "an integer", "a list", "one of ..." (no article).
std::string with_article(std::string_view type) {
  if (type.starts_with("one of")) return std::string(type);
  bool vowel = !type.empty() && std::string_view("aeiou").find(type[0]) != std::string_view::npos;
  return (vowel ? "an " : "a ") + std::string(type);
}

std::string apply_value(const Setting& s, const PythonValue& v, Settings& out) {
  switch (v.kind) {
    case PythonValue::kScalar:
      if (is_list(s) && s.list == ListStyle::kRepeat) return assign_list(s, v.items, out);
      return assign_text(s, v.items.front(), out);
    case PythonValue::kList:
      if (!is_list(s)) {
        return fmt::format("expected {}, got {}", with_article(type_name(s)), with_article(v.type));
      }
      for (const std::string& item : v.items) {
        Settings scratch;
        if (std::string err = assign_list(s, {item}, scratch); !err.empty()) return err;
      }
      return assign_list(s, v.items, out);
    case PythonValue::kMap:  // {"NAME": "VALUE"}: the list NAME=VALUE, ...
      if (!s.map) {
        return fmt::format("expected {}, got {}", with_article(type_name(s)), with_article(v.type));
      }
      return assign_list(s, v.items, out);
    default:
      return fmt::format("expected {}, got {}", with_article(type_name(s)), with_article(v.type));
  }
}

}  // namespace

void set_python_config_reader(PythonConfigReader reader) { g_reader = reader; }

// gunicorn runs whatever -c names as Python; cppicorn keeps its own YAML files (and JSON,
// which YAML reads) by their extension and treats everything else as gunicorn would, so a
// `gunicorn.conf` or `conf/gunicorn` that ran under gunicorn runs here too.
bool is_python_config(std::string_view location) {
  if (location.starts_with("python:") || location.starts_with("file:")) return true;
  return !(location.ends_with(".yaml") || location.ends_with(".yml") ||
           location.ends_with(".json"));
}

std::string read_python_file(const std::string& location, Settings& out,
                             std::vector<std::string>* warnings) {
  if (g_reader == nullptr) {
    return fmt::format(
        "{}: a Python config file needs the Python plugin, which this program "
        "does not load",
        location);
  }
  std::vector<PythonValue> values;
  if (std::string err = g_reader(location, &values); !err.empty()) return err;
  // The file as messages name it: the plugin reports a module's own file in `type` of a
  // leading "__file__" entry when it has one.
  std::string file = location;
  if (!values.empty() && values.front().name == "__file__") {
    file = values.front().items.front();
    values.erase(values.begin());
  }
  auto where = [&file](const PythonValue& v) {
    return v.line > 0 ? fmt::format("{}:{}: {}", file, v.line, v.name)
                      : fmt::format("{}: {}", file, v.name);
  };
  Settings result = out;  // a bad file changes nothing
  for (const PythonValue& v : values) {
    bool hook = std::find(kHooks.begin(), kHooks.end(), v.name) != kHooks.end();
    if (hook) {
      if (v.kind != PythonValue::kHook) {
        return fmt::format("{}: expected a function, got {}", where(v), with_article(v.type));
      }
      continue;
    }
    if (v.kind == PythonValue::kNone) continue;  // gunicorn's "not set" (proc_name = None)
    // "app" itself is no gunicorn setting (wsgi_app is): a conf file's `app` is its own.
    const Setting* s = v.name == "app" ? nullptr : find_setting(table_name(v.name));
    if (s == nullptr) {
      if (const Foreign* f = find_foreign(v.name); f != nullptr) {
        std::string warning;
        std::string value = v.kind == PythonValue::kScalar ? v.items.front() : std::string();
        if (std::string err = foreign_outcome(*f, where(v), value, &warning); !err.empty()) {
          return err;
        }
        if (!warning.empty()) warnings->push_back(std::move(warning));
      }
      continue;  // not a setting: a helper variable, an import (gunicorn ignores them)
    }
    if (std::string err = apply_value(*s, v, result); !err.empty()) {
      return fmt::format("{}: {}", where(v), err);
    }
  }
  out = std::move(result);
  out.python_config = true;
  return "";
}

}  // namespace cppicorn::config
