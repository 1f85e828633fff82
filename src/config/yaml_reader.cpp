// The YAML config file: a top-level mapping of setting names to values. Every error names
// FILE:LINE and the key, because the file is usually edited far from where it is read
// (e.g. /etc/cppicorn/site.yaml read by a unit on reload).
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "config/sources.h"

namespace cppicorn::config {
namespace {

int line_of(const YAML::Node& n) { return n.Mark().is_null() ? 1 : n.Mark().line + 1; }

std::string unknown_key(std::string_view key) {
  std::string msg = fmt::format("unknown setting '{}'", key);
  if (key == "config") return msg + " (the config file is chosen with -c/--config)";
  std::string dashed(key);
  std::replace(dashed.begin(), dashed.end(), '-', '_');
  std::string guess;
  if (find_setting(dashed) != nullptr) {
    guess = dashed;  // "max-requests" is the flag spelling of max_requests
  } else {
    std::vector<std::string> names;
    for (const Setting& s : settings_table()) names.emplace_back(s.name);
    guess = nearest(key, names);
  }
  return guess.empty() ? msg : fmt::format("{} (did you mean '{}'?)", msg, guess);
}

std::string_view kind_of(const YAML::Node& n) {
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

// One `key: value` pair; returns "" or the message after "FILE:LINE: key: ", with `line`
// moved to the offending list item when there is one.
std::string apply_node(const Setting& s, const YAML::Node& value, Settings& out, int& line) {
  if (value.IsScalar()) return assign_text(s, value.Scalar(), out);
  if (is_list(s)) {
    if (value.IsNull()) return assign_list(s, {}, out);
    if (value.IsMap() && s.map) {  // {NAME: VALUE, ...} is the list NAME=VALUE, ...
      std::vector<std::string> items;
      for (const auto& kv : value) {
        line = line_of(kv.first);
        if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
          return "expected a mapping of strings to strings";
        }
        items.push_back(kv.first.Scalar() + "=" + kv.second.Scalar());
      }
      return assign_list(s, items, out);
    }
    if (!value.IsSequence()) return "expected a list, got a mapping";
    std::vector<std::string> items;
    for (const YAML::Node& item : value) {
      line = line_of(item);
      if (!item.IsScalar()) return fmt::format("expected a list of strings, got {}", kind_of(item));
      Settings scratch;  // checked one by one so the error points at the item's own line
      if (std::string err = assign_list(s, {item.Scalar()}, scratch); !err.empty()) return err;
      items.push_back(item.Scalar());
    }
    return assign_list(s, items, out);
  }
  // `key:` with nothing after it: an empty string where that is a value, else an error.
  if (value.IsNull() && std::holds_alternative<std::string Settings::*>(s.field)) {
    return assign_text(s, "", out);
  }
  std::string type = type_name(s);
  std::string_view article = type.starts_with("one of") ? ""
                             : std::string_view("aeiou").find(type[0]) != std::string_view::npos
                                 ? "an "
                                 : "a ";
  return fmt::format("expected {}{}, got {}", article, type, kind_of(value));
}

}  // namespace

std::string read_yaml_file(const std::string& path, Settings& out,
                           std::vector<std::string>* warnings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fmt::format("{}: cannot read: {}", path, std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return fmt::format("{}: cannot read: {}", path, std::strerror(errno));

  YAML::Node root;
  try {
    root = YAML::Load(buf.str());
  } catch (const YAML::Exception& e) {
    return fmt::format("{}:{}: {}", path, e.mark.is_null() ? 1 : e.mark.line + 1, e.msg);
  }
  if (root.IsNull()) return "";  // empty file, or only comments: nothing to change
  if (!root.IsMap()) {
    return fmt::format("{}:{}: expected a mapping of setting names to values, got {}", path,
                       line_of(root), root.IsScalar() ? "a scalar" : "a list");
  }
  // Parse into a copy so a bad file changes nothing (the caller keeps the old settings).
  Settings result = out;
  std::map<std::string, int> seen;
  try {
    for (const auto& kv : root) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        return fmt::format("{}:{}: setting names must be plain words", path, line_of(key));
      }
      const std::string& name = key.Scalar();
      auto [it, inserted] = seen.emplace(name, line_of(key));
      if (!inserted) {
        return fmt::format("{}:{}: duplicate setting '{}' (first set on line {})", path,
                           line_of(key), name, it->second);
      }
      const Setting* s = find_setting(name);
      if (const Foreign* f = s ? nullptr : find_foreign(name); f != nullptr) {
        std::string warning;
        std::string where = fmt::format("{}:{}: {}", path, line_of(key), name);
        std::string value = kv.second.IsScalar() ? kv.second.Scalar() : std::string();
        if (std::string err = foreign_outcome(*f, where, value, &warning); !err.empty()) {
          return err;
        }
        if (!warning.empty()) warnings->push_back(std::move(warning));
        continue;
      }
      if (s == nullptr) return fmt::format("{}:{}: {}", path, line_of(key), unknown_key(name));
      int line = kv.second.IsNull() ? line_of(key) : line_of(kv.second);
      if (std::string err = apply_node(*s, kv.second, result, line); !err.empty()) {
        return fmt::format("{}:{}: {}: {}", path, line, name, err);
      }
    }
  } catch (const YAML::Exception& e) {
    // Anchors and aliases to missing nodes surface only while walking the tree.
    return fmt::format("{}:{}: {}", path, e.mark.is_null() ? 1 : e.mark.line + 1, e.msg);
  }
  out = std::move(result);
  return "";
}

}  // namespace cppicorn::config
