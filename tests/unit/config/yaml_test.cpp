// The YAML config file: every error names FILE:LINE and the key.
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace cppicorn::config {
namespace {

using testing::run;
using testing::TempYaml;

// The error load() reports for a file holding `text`, with the path replaced by "F".
std::string file_error(const std::string& text) {
  TempYaml f(text);
  LoadResult r = run({"-c", f.path(), "a:b"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 2);
  std::string e = r.error;
  if (e.starts_with(f.path())) e.replace(0, f.path().size(), "F");
  return e;
}

TEST(Yaml, UnknownKeySuggestsNearestWithLine) {
  EXPECT_EQ(file_error("workers: 2\n\nwokers: 3\n"),
            "F:3: unknown setting 'wokers' (did you mean 'workers'?)");
  EXPECT_EQ(file_error("# comment\ntimeuot: 3\n"),
            "F:2: unknown setting 'timeuot' (did you mean 'timeout'?)");
  EXPECT_EQ(file_error("max-requests: 3\n"),
            "F:1: unknown setting 'max-requests' (did you mean 'max_requests'?)");
  EXPECT_EQ(file_error("frobnicate: 3\n"), "F:1: unknown setting 'frobnicate'");
  EXPECT_EQ(file_error("config: other.yaml\n"),
            "F:1: unknown setting 'config' (the config file is chosen with -c/--config)");
}

TEST(Yaml, InvalidValuesNameKeyAndLine) {
  EXPECT_EQ(file_error("bind: 127.0.0.1:1\nworkers: abc\n"),
            "F:2: workers: expected an integer, got 'abc'");
  EXPECT_EQ(file_error("timeout: soon\n"), "F:1: timeout: expected a number, got 'soon'");
  EXPECT_EQ(file_error("preload: maybe\n"), "F:1: preload: expected true or false, got 'maybe'");
  EXPECT_EQ(file_error("header_map: keep\n"),
            "F:1: header_map: expected drop, refuse or dangerous, got 'keep'");
  EXPECT_EQ(file_error("workers: [1, 2]\n"), "F:1: workers: expected an integer, got a list");
  EXPECT_EQ(file_error("workers:\n"), "F:1: workers: expected an integer, got nothing");
  EXPECT_EQ(file_error("bind:\n  a: b\n"), "F:2: bind: expected a list, got a mapping");
  EXPECT_EQ(file_error("\n\nbind:\n  - 127.0.0.1:1\n  - nope:port\n"),
            "F:5: bind: invalid address 'nope:port' (invalid port)");
  EXPECT_EQ(file_error("log_level: loud\n"),
            "F:1: log_level: expected debug, info, warning, error or critical, got 'loud'");
  EXPECT_EQ(file_error("limit_request_fields: 40000\n"),
            "F:1: limit_request_fields: must be between 0 and 32768, got '40000'");
  EXPECT_EQ(file_error("workers: 2\nworkers: 3\n"),
            "F:2: duplicate setting 'workers' (first set on line 1)");
}

TEST(Yaml, SyntaxErrorHasLine) {
  std::string e = file_error("workers: 2\nbind: [127.0.0.1:1\ntimeout: 3\n");
  EXPECT_TRUE(e.starts_with("F:")) << e;
  EXPECT_NE(e.find("end of sequence"), std::string::npos) << e;
  e = file_error("workers: 2\n  timeout: 3\n");
  EXPECT_EQ(e.substr(0, 4), "F:2:") << e;
  EXPECT_EQ(file_error("- workers\n"),
            "F:1: expected a mapping of setting names to values, "
            "got a list");
}

TEST(Yaml, MissingFile) {
  LoadResult r = run({"-c", "/nonexistent/cppicorn.yaml", "a:b"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.error, "/nonexistent/cppicorn.yaml: cannot read: No such file or directory");
}

TEST(Yaml, EmptyFileAndNulls) {
  TempYaml empty("# nothing yet\n");
  LoadResult r = run({"-c", empty.path(), "a:b"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.workers, 1);
  TempYaml nulls("access_logfile:\nforwarded_allow_ips: []\nproxy_allow_ips:\n");
  r = run({"-c", nulls.path(), "a:b"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.access_logfile, "");
  EXPECT_TRUE(r.settings.forwarded_allow_ips.empty());
  EXPECT_TRUE(r.settings.proxy_allow_ips.empty());
}

TEST(Yaml, ListsAsScalarOrSequence) {
  TempYaml f("bind: unix:/run/a.sock\nforwarded_allow_ips: [10.0.0.1, '10.0.0.2,10.0.0.3']\n");
  LoadResult r = run({"-c", f.path(), "a:b"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.bind, (std::vector<std::string>{"unix:/run/a.sock"}));
  EXPECT_EQ(r.settings.forwarded_allow_ips,
            (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
}

}  // namespace
}  // namespace cppicorn::config
