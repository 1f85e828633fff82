// Build-time generator for cppicorn(1): copies man/cppicorn.1.in, replacing the @SETTINGS@
// line with settings_roff() and @VERSION@ with the version, so the page documents exactly
// the settings the binary accepts.
//
//   gen_settings_man TEMPLATE OUTPUT   write the page
//   gen_settings_man --list            print "name flag..." per setting, for the man test
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "config/settings.h"
#include "config/table.h"

namespace {

int list_settings() {
  for (const cppicorn::config::Setting& s : cppicorn::config::settings_table()) {
    std::string flags(s.flags);
    for (char& c : flags) c = c == ',' ? ' ' : c;
    std::cout << s.name << (flags.empty() ? "" : " ") << flags << '\n';
  }
  return 0;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t i = text.find(from); i != std::string::npos; i = text.find(from, i + to.size())) {
    text.replace(i, from.size(), to);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--list") return list_settings();
  if (argc != 3) {
    std::cerr << "usage: gen_settings_man TEMPLATE OUTPUT | --list\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << argv[1] << ": cannot read\n";
    return 1;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string page = buf.str();
  if (page.find("\n@SETTINGS@\n") == std::string::npos) {
    std::cerr << argv[1] << ": no @SETTINGS@ line\n";
    return 1;
  }
  // The roff ends with a newline, and so does the placeholder line it replaces.
  replace_all(page, "@SETTINGS@\n", cppicorn::config::settings_roff());
  replace_all(page, "@VERSION@", CPPICORN_VERSION);
  std::ofstream out(argv[2]);
  out << page;
  out.close();
  if (!out) {
    std::cerr << argv[2] << ": cannot write\n";
    return 1;
  }
  return 0;
}
