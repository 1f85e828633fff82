// Text generated from the table (--help, --print-config, the man fragment) and the table's own
// consistency: what is documented is what is parsed.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "config/sources.h"
#include "config_test_util.h"

namespace cppicorn::config {
namespace {

using testing::run;
using testing::TempYaml;

std::vector<std::string> split_flags(std::string_view flags) {
  std::vector<std::string> out;
  while (!flags.empty()) {
    size_t comma = flags.find(',');
    out.emplace_back(flags.substr(0, comma));
    flags = comma == std::string_view::npos ? std::string_view() : flags.substr(comma + 1);
  }
  return out;
}

TEST(Table, RowsAreComplete) {
  std::set<std::string_view> names;
  std::set<std::string> flags;
  for (const Setting& s : settings_table()) {
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate name " << s.name;
    for (const std::string& f : split_flags(s.flags)) {
      EXPECT_TRUE(flags.insert(f).second) << "duplicate flag " << f;
    }
    EXPECT_FALSE(s.section.empty()) << s.name;
    EXPECT_GT(s.doc.size(), 20u) << s.name;
    EXPECT_TRUE(is_bool(s) || !s.meta.empty()) << s.name << " needs a metavariable";
    for (char c : s.name) EXPECT_TRUE(std::islower(c) || c == '_') << s.name;
  }
  EXPECT_GE(names.size(), 37u);
}

TEST(Generated, HelpListsEverySetting) {
  std::string help = help_text();
  for (const Setting& s : settings_table()) {
    for (const std::string& f : split_flags(s.flags)) {
      EXPECT_NE(help.find(f), std::string::npos) << f;
    }
  }
  for (std::string_view section : {"Server Socket:", "Worker Processes:", "Security:", "Logging:",
                                   "Server Mechanics:", "Application:"}) {
    EXPECT_NE(help.find(section), std::string::npos) << section;
  }
  EXPECT_NE(help.find("[default: 30]"), std::string::npos);
  for (std::string_view line : {"--print-config", "--check-config", "-c, --config FILE"}) {
    EXPECT_NE(help.find(line), std::string::npos) << line;
  }
  size_t start = 0;
  while (start < help.size()) {
    size_t end = help.find('\n', start);
    EXPECT_LE(end - start, 100u) << help.substr(start, end - start);
    start = end + 1;
  }
}

TEST(Generated, RoffListsEverySetting) {
  std::string roff = settings_roff();
  for (const Setting& s : settings_table()) {
    EXPECT_NE(roff.find("\\fB\\%" + std::string(s.name) + "\\fR"), std::string::npos) << s.name;
  }
  EXPECT_NE(roff.find(".SS Server Socket"), std::string::npos);
  EXPECT_NE(roff.find("\\fB\\-w\\fR, \\fB\\-\\-workers\\fR \\fIINT\\fR"), std::string::npos);
}

// Every field compared, so a setting the printer forgets makes the round trip fail.
void expect_same(const Settings& a, const Settings& b) {
  for (const Setting& s : settings_table()) {
    EXPECT_EQ(yaml_value(s, a), yaml_value(s, b)) << s.name;
  }
  EXPECT_EQ(a.workers, b.workers);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.access_log_format, b.access_log_format);
  EXPECT_EQ(a.bind, b.bind);
}

TEST(Generated, PrintConfigRoundTrip) {
  std::vector<std::vector<std::string>> cases = {
      {"a:b"},
      {"-b",
       "[::1]:80",
       "-b",
       "unix:/tmp/a b.sock",
       "-w",
       "7",
       "-t",
       "0.125",
       "-m",
       "0o27",
       "--header-map",
       "refuse",
       "--access-logformat",
       R"(%(h)s "%(r)s" \ #x: 'y')",
       "--server-header",
       "",
       "--forwarded-allow-ips",
       "*",
       "--preload",
       "--log-level",
       "error",
       "--limit-request-body",
       "12345678901",
       "-n",
       "naïve\tname",
       "mod:sym"},
  };
  for (const auto& args : cases) {
    LoadResult first = run(args);
    ASSERT_FALSE(first.exit_now) << first.error;
    std::vector<std::string> print_args = args;
    print_args.push_back("--print-config");
    LoadResult printed = run(print_args);
    ASSERT_TRUE(printed.exit_now);
    ASSERT_EQ(printed.exit_code, 0);
    TempYaml f(printed.output);
    LoadResult again = run({"-c", f.path()});
    ASSERT_FALSE(again.exit_now) << again.error << "\n" << printed.output;
    expect_same(first.settings, again.settings);
    EXPECT_EQ(run({"-c", f.path(), "--print-config"}).output, printed.output);
  }
}

TEST(Generated, PrintConfigNeedsNoApp) {
  LoadResult r = run({"--print-config"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("\nworkers: 1\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nheader_map: drop\n"), std::string::npos);
  EXPECT_NE(r.output.find("\numask: 0\n"), std::string::npos);
}

// The EXAMPLE of cppicorn.yaml(5), un-escaped from roff: it must load, and name every setting.
TEST(Generated, ManPageExampleIsACompleteValidConfig) {
  std::ifstream in(CPPICORN_SOURCE_DIR "/man/cppicorn.yaml.5");
  ASSERT_TRUE(in) << "cannot read man/cppicorn.yaml.5";
  std::string line, example;
  bool in_section = false, in_example = false;
  while (std::getline(in, line)) {
    if (line == ".SH EXAMPLE") in_section = true;
    if (in_section && line == ".EX") {
      in_example = true;
    } else if (in_example && line == ".EE") {
      break;
    } else if (in_example) {
      const std::pair<std::string_view, std::string_view> escapes[] = {
          {"\\-", "-"}, {"\\(aq", "'"}, {"\\e", "\\"}};
      for (auto [from, to] : escapes) {
        for (size_t i = line.find(from); i != std::string::npos; i = line.find(from, i + 1)) {
          line.replace(i, from.size(), to);
        }
      }
      example += line + "\n";
    }
  }
  ASSERT_FALSE(example.empty());
  TempYaml f(example);
  LoadResult r = run({"-c", f.path()});
  ASSERT_FALSE(r.exit_now) << r.error << "\n" << example;
  for (const Setting& s : settings_table()) {
    EXPECT_NE(example.find("\n" + std::string(s.name) + ":"), std::string::npos)
        << s.name << " missing from the example in cppicorn.yaml(5)";
  }
  EXPECT_EQ(r.settings.bind.size(), 3u);
  EXPECT_EQ(r.settings.umask, 022);
  EXPECT_EQ(r.settings.access_log_format, Settings().access_log_format);
}

}  // namespace
}  // namespace cppicorn::config
