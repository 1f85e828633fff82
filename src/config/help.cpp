// Text generated from the table: --help, --print-config and the man page's SETTINGS section.
// Generated rather than written so the three can never disagree with what the parser accepts.
#include <fmt/format.h>

#include <algorithm>

#include "config/settings.h"
#include "config/sources.h"
#include "version/version.h"

namespace cppicorn::config {
namespace {

constexpr size_t kWidth = 100;
constexpr size_t kIndent = 28;  // column where help descriptions start

// Sections in the order they first appear in the table.
std::vector<std::string_view> sections() {
  std::vector<std::string_view> out;
  for (const Setting& s : settings_table()) {
    if (std::find(out.begin(), out.end(), s.section) == out.end()) out.push_back(s.section);
  }
  return out;
}

// "-b,--bind" -> "-b, --bind"
std::string flag_list(std::string_view flags) {
  std::string out(flags);
  for (size_t i = out.find(','); i != std::string::npos; i = out.find(',', i + 2)) {
    out.insert(i + 1, " ");
  }
  return out;
}

std::string first_sentence(std::string_view doc) {
  size_t end = doc.find(". ");
  return std::string(end == std::string_view::npos ? doc : doc.substr(0, end + 1));
}

// Appends `text` word-wrapped to kWidth, continuation lines indented by kIndent.
void wrap(std::string& out, size_t column, std::string_view text) {
  while (!text.empty()) {
    size_t space = text.find(' ');
    std::string_view word = text.substr(0, space);
    if (column > kIndent && column + 1 + word.size() > kWidth) {
      out += "\n" + std::string(kIndent, ' ');
      column = kIndent;
    } else if (column > kIndent) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  }
  out += '\n';
}

void help_entry(std::string& out, const std::string& left, std::string_view doc) {
  std::string head = "  " + left;
  out += head;
  if (head.size() + 2 > kIndent) {
    out += "\n" + std::string(kIndent, ' ');
  } else {
    out += std::string(kIndent - head.size(), ' ');
  }
  wrap(out, kIndent, doc);
}

// roff text: backslashes escaped, and a leading '.' or '\'' cannot become a request.
std::string roff(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

// Options are literal: hyphens become \- (minus signs), so they copy-paste from the page.
std::string roff_flags(const Setting& s) {
  if (s.flags.empty()) return "\\fI" + roff(s.meta) + "\\fR (positional argument)";
  std::string out;
  std::string_view rest = s.flags;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string flag(rest.substr(0, comma));
    std::string escaped;
    for (char c : flag) escaped += c == '-' ? std::string("\\-") : std::string(1, c);
    out += (out.empty() ? "" : ", ") + ("\\fB" + escaped + "\\fR");
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (!s.meta.empty()) out += " \\fI" + roff(s.meta) + "\\fR";
  return out;
}

}  // namespace

std::string help_text() {
  std::string out =
      "usage: cppicorn [OPTIONS] APP\n\n"
      "Serve APP (MODULE:SYMBOL, a native or WSGI application) with a pre-fork pool of "
      "workers.\nSettings: defaults < the YAML file (-c) < $CPPICORN_CMD_ARGS < the command "
      "line.\nSee cppicorn(1) and cppicorn.yaml(5) for the whole story.\n\nGeneral:\n";
  for (const Action& a : actions()) {
    std::string left = flag_list(a.flags);
    if (!a.meta.empty()) left += " " + std::string(a.meta);
    help_entry(out, left, a.doc);
  }
  for (std::string_view section : sections()) {
    out += "\n" + std::string(section) + ":\n";
    for (const Setting& s : settings_table()) {
      if (s.section != section) continue;
      std::string left = s.flags.empty() ? std::string(s.meta) : flag_list(s.flags);
      if (!s.flags.empty() && !s.meta.empty()) left += " " + std::string(s.meta);
      std::string doc = first_sentence(s.doc);
      bool quiet_default = s.flags.empty() || (is_bool(s) && default_text(s) == "false");
      if (!quiet_default) doc += " [default: " + default_text(s) + "]";
      help_entry(out, left, doc);
    }
  }
  // One line for the rest of gunicorn's: the man page and the messages say the rest.
  out +=
      "\ngunicorn settings without an equivalent (accepted with a warning, or refused with\n"
      "what to use instead; see cppicorn-gunicorn(7)):\n ";
  size_t column = 1;
  for (const Foreign& f : foreign_table()) {
    std::string name =
        f.flags.empty() ? std::string(f.name) : std::string(f.flags.substr(f.flags.rfind(',') + 1));
    if (column + name.size() + 1 > 79) {
      out += "\n ";
      column = 1;
    }
    out += " " + name;
    column += name.size() + 1;
  }
  out += "\n";
  return out;
}

std::string print_config(const Settings& settings) {
  // (fmt, not operator+: GCC 12 at -O3 reports a false -Wrestrict on the concatenation.)
  std::string out =
      fmt::format("# cppicorn {} effective settings; use as a config file with -c.\n", version());
  for (std::string_view section : sections()) {
    out += "\n# " + std::string(section) + "\n";
    for (const Setting& s : settings_table()) {
      if (s.section == section) {
        out += fmt::format("{}: {}\n", s.name, yaml_value(s, settings));
      }
    }
  }
  return out;
}

std::string settings_roff() {
  std::string out;
  for (std::string_view section : sections()) {
    out += ".SS " + roff(section) + "\n";
    for (const Setting& s : settings_table()) {
      if (s.section != section) continue;
      out += ".TP\n" + roff_flags(s) + "\n" + roff(s.doc) + "\n";
      out += ".IP\n";
      // \% keeps long names like limit_request_field_size from being hyphenated.
      out += fmt::format("YAML key \\fB\\%{}\\fR ({}); default: {}.\n", roff(s.name),
                         roff(type_name(s)), roff(default_text(s)));
    }
  }
  out +=
      ".SS gunicorn settings without an equivalent\n"
      "Known by their gunicorn names (as YAML keys too) and flags, so that a gunicorn "
      "command line is never refused as unknown; each answers with its reason. Refused "
      "ones stop the server, the others are logged as a warning.\n";
  for (const Foreign& f : foreign_table()) {
    out += fmt::format(".TP\n\\fB\\%{}\\fR{}\n{}{}\n", roff(f.name),
                       f.flags.empty() ? "" : " (" + roff(f.flags) + ")",
                       f.refused ? "Refused: " : "Warns: ", roff(f.message));
  }
  return out;
}

}  // namespace cppicorn::config
