// Typed operations on table rows: parse text into a Settings field, print it back as YAML,
// describe its type and default. Every source (CLI, env, YAML) goes through assign_text /
// assign_list, so a value means the same thing wherever it is written.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "config/table.h"

namespace cppicorn::config {
namespace {

// The usual visitor helper: one lambda per Field alternative, so a new alternative that is
// not handled everywhere fails to compile instead of being silently ignored.
template <class... F>
struct Overload : F... {
  using F::operator()...;
};
// Spelled out for clang 14 (clang-tidy, the fuzz build), which does not deduce aggregates.
template <class... F>
Overload(F...) -> Overload<F...>;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string got(std::string_view text) { return fmt::format("got '{}'", text); }

// Range text uses integers where the bound is integral, so messages read "at least 1".
std::string bound(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", int64_t(v));
  return fmt::format("{}", v);
}

std::string range_error(const Setting& s, double v, std::string_view text) {
  if (v >= s.min && v <= s.max) return "";
  bool has_max = s.max < 1e299;
  if (has_max && s.min > -1e299) {
    return fmt::format("must be between {} and {}, {}", bound(s.min), bound(s.max), got(text));
  }
  if (has_max) return fmt::format("must be at most {}, {}", bound(s.max), got(text));
  return fmt::format("must be at least {}, {}", bound(s.min), got(text));
}

// Integers: decimal, or for octal rows 0o22 / 022 as well (umask), as gunicorn accepts.
std::string parse_int(const Setting& s, std::string_view text, int64_t lo, int64_t hi,
                      int64_t& out) {
  std::string_view t = trim(text);
  int base = 10;
  if (s.octal && (t.starts_with("0o") || t.starts_with("0O"))) {
    base = 8;
    t.remove_prefix(2);
  } else if (s.octal && t.size() > 1 && t[0] == '0') {
    base = 8;
  }
  if (t.starts_with('+')) t.remove_prefix(1);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
  if (t.empty() || ec == std::errc::invalid_argument || end != t.data() + t.size()) {
    if (s.octal)
      return "expected an octal mode like 0o22 or 022, or a decimal integer, " + got(text);
    return "expected an integer, " + got(text);
  }
  if (ec == std::errc::result_out_of_range || v < lo || v > hi) {
    return fmt::format("out of range, {}", got(text));
  }
  out = v;
  return range_error(s, double(v), text);
}

std::string parse_bool(std::string_view text, bool& out) {
  std::string t = lower(trim(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") {
    out = true;
  } else if (t == "false" || t == "no" || t == "off" || t == "0") {
    out = false;
  } else {
    return "expected true or false, " + got(text);
  }
  return "";
}

std::string parse_header_map(std::string_view text, HeaderUnderscores& out) {
  std::string t = lower(trim(text));
  if (t == "drop") {
    out = HeaderUnderscores::kDrop;
  } else if (t == "refuse") {
    out = HeaderUnderscores::kRefuse;
  } else if (t == "dangerous" || t == "allow") {
    out = HeaderUnderscores::kAllow;  // gunicorn's name says why it is not the default
  } else {
    return "expected drop, refuse or dangerous, " + got(text);
  }
  return "";
}

std::string_view header_map_name(HeaderUnderscores h) {
  switch (h) {
    case HeaderUnderscores::kDrop:
      return "drop";
    case HeaderUnderscores::kRefuse:
      return "refuse";
    case HeaderUnderscores::kAllow:
      return "dangerous";
  }
  return "drop";
}

std::string format_int(const Setting& s, int64_t v) {
  return s.octal && v != 0 ? fmt::format("0o{:o}", v) : fmt::format("{}", v);
}

}  // namespace

bool is_bool(const Setting& s) { return std::holds_alternative<bool Settings::*>(s.field); }
bool is_list(const Setting& s) {
  return std::holds_alternative<std::vector<std::string> Settings::*>(s.field);
}

std::string assign_list(const Setting& s, const std::vector<std::string>& items, Settings& out) {
  auto* field = std::get_if<std::vector<std::string> Settings::*>(&s.field);
  if (field == nullptr)
    return items.empty() ? "expected a value" : assign_text(s, items.back(), out);
  std::vector<std::string> result;
  for (const std::string& item : items) {
    std::string_view rest = item;
    // Comma lists split every item, so "a,b" and ["a", "b"] mean the same in YAML.
    while (true) {
      size_t comma = s.list == ListStyle::kComma ? rest.find(',') : std::string_view::npos;
      std::string one(trim(rest.substr(0, comma)));
      if (!one.empty() || s.list == ListStyle::kRepeat) {
        if (s.check != nullptr) {
          if (std::string err = s.check(one); !err.empty()) return err;
        }
        result.push_back(std::move(one));
      }
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  out.*(*field) = std::move(result);
  return "";
}

std::string assign_text(const Setting& s, std::string_view text, Settings& out) {
  return std::visit(
      Overload{
          [&](int Settings::*f) {
            int64_t v = 0;
            std::string err = parse_int(s, text, std::numeric_limits<int>::min(),
                                        std::numeric_limits<int>::max(), v);
            if (err.empty()) out.*f = static_cast<int>(v);
            return err;
          },
          [&](int64_t Settings::*f) {
            int64_t v = 0;
            std::string err = parse_int(s, text, std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max(), v);
            if (err.empty()) out.*f = v;
            return err;
          },
          [&](double Settings::*f) {
            std::string_view t = trim(text);
            if (t.starts_with('+')) t.remove_prefix(1);
            double v = 0;
            auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
            if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v)) {
              return "expected a number, " + got(text);
            }
            std::string err = range_error(s, v, text);
            if (err.empty()) out.*f = v;
            return err;
          },
          [&](bool Settings::*f) { return parse_bool(text, out.*f); },
          [&](std::string Settings::*f) {
            std::string v(text);
            if (s.check != nullptr) {
              if (std::string err = s.check(v); !err.empty()) return err;
            }
            out.*f = std::move(v);
            return std::string();
          },
          [&](std::vector<std::string> Settings::*) {
            return assign_list(s, {std::string(text)}, out);
          },
          [&](HeaderUnderscores Settings::*f) { return parse_header_map(text, out.*f); },
      },
      s.field);
}

std::string type_name(const Setting& s) {
  return std::visit(
      Overload{
          [&](int Settings::*) -> std::string { return s.octal ? "octal mode" : "integer"; },
          [](int64_t Settings::*) -> std::string { return "integer"; },
          [](double Settings::*) -> std::string { return "number"; },
          [](bool Settings::*) -> std::string { return "boolean"; },
          [](std::string Settings::*) -> std::string { return "string"; },
          [&](std::vector<std::string> Settings::*) -> std::string {
            return s.list == ListStyle::kComma ? "comma-separated list" : "list";
          },
          [](HeaderUnderscores Settings::*) -> std::string {
            return "one of drop, refuse, dangerous";
          },
      },
      s.field);
}

std::string yaml_value(const Setting& s, const Settings& in) {
  return std::visit(
      Overload{
          [&](int Settings::*f) { return format_int(s, in.*f); },
          [&](int64_t Settings::*f) { return format_int(s, in.*f); },
          [&](double Settings::*f) { return fmt::format("{}", in.*f); },
          [&](bool Settings::*f) { return std::string(in.*f ? "true" : "false"); },
          [&](std::string Settings::*f) { return yaml_quote(in.*f); },
          [&](std::vector<std::string> Settings::*f) {
            std::string out = "[";
            for (const std::string& item : in.*f) {
              if (out.size() > 1) out += ", ";
              out += yaml_quote(item);
            }
            return out + "]";
          },
          [&](HeaderUnderscores Settings::*f) { return std::string(header_map_name(in.*f)); },
      },
      s.field);
}

std::string default_text(const Setting& s) {
  if (!s.default_doc.empty()) return std::string(s.default_doc);
  static const Settings defaults;
  if (auto* f = std::get_if<std::string Settings::*>(&s.field)) {
    return (defaults.*(*f)).empty() ? "empty" : defaults.*(*f);
  }
  if (auto* f = std::get_if<std::vector<std::string> Settings::*>(&s.field)) {
    std::string out;
    for (const std::string& item : defaults.*(*f)) out += (out.empty() ? "" : ",") + item;
    return out.empty() ? "empty" : out;
  }
  return yaml_value(s, defaults);
}

std::string yaml_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Optimal string alignment distance: a transposition ("wokrers") counts as one typo.
static size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  // A third of the word (at least 1, at most 3) is what a typo plausibly changes; beyond that
  // a suggestion is noise.
  size_t limit = std::clamp<size_t>(word.size() / 3, 1, 3);
  std::string best;
  size_t best_d = limit + 1;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(lower(word), c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace cppicorn::config
