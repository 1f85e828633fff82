// load(): defaults, each source on its own, precedence between them, actions and exit codes.
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace cppicorn::config {
namespace {

using testing::run;
using testing::TempYaml;

TEST(Loader, DefaultsWithOnlyTheApp) {
  LoadResult r = run({"hello:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  const Settings& s = r.settings;
  EXPECT_EQ(s.app, "hello:app");
  EXPECT_TRUE(s.bind.empty());
  EXPECT_EQ(s.workers, 1);
  EXPECT_EQ(s.backlog, 2048);
  EXPECT_EQ(s.timeout, 30);
  EXPECT_EQ(s.keepalive, 2);
  EXPECT_EQ(s.limit_request_line, 4094);
  EXPECT_EQ(s.limit_request_fields, 100);
  EXPECT_EQ(s.limit_request_field_size, 8190);
  EXPECT_EQ(s.header_underscores, HeaderUnderscores::kDrop);
  EXPECT_EQ(s.forwarded_allow_ips, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(s.log_level, "info");
  EXPECT_EQ(s.error_logfile, "-");
  EXPECT_EQ(s.access_logfile, "");
  EXPECT_EQ(s.config_file, "");
}

TEST(Loader, CommandLineGunicornStyle) {
  LoadResult r = run({"-b",
                      "127.0.0.1:9000",
                      "--bind=unix:/run/x.sock",
                      "-w4",
                      "-t",
                      "12.5",
                      "--graceful-timeout",
                      "5",
                      "--keep-alive",
                      "0",
                      "--max-requests",
                      "100",
                      "--max-requests-jitter",
                      "10",
                      "--worker-connections",
                      "50",
                      "--limit-request-line",
                      "0",
                      "--limit-request-fields",
                      "20",
                      "--limit-request-field_size",
                      "100",
                      "--chdir",
                      "/srv",
                      "-p",
                      "/run/p.pid",
                      "-u",
                      "www",
                      "-g",
                      "www",
                      "-m",
                      "0o27",
                      "-n",
                      "site",
                      "--preload",
                      "--reuse-port",
                      "--log-level",
                      "DEBUG",
                      "--log-file",
                      "/var/log/e.log",
                      "--access-logfile",
                      "-",
                      "--access-logformat",
                      "%(h)s %(r)s",
                      "--forwarded-allow-ips",
                      "10.0.0.1, 10.1.0.0/16",
                      "--proxy-protocol",
                      "--proxy-allow-from",
                      "*",
                      "--backlog",
                      "64",
                      "mod:sym"});
  ASSERT_FALSE(r.exit_now) << r.error;
  const Settings& s = r.settings;
  EXPECT_EQ(s.bind, (std::vector<std::string>{"127.0.0.1:9000", "unix:/run/x.sock"}));
  EXPECT_EQ(s.workers, 4);
  EXPECT_EQ(s.timeout, 12.5);
  EXPECT_EQ(s.graceful_timeout, 5);
  EXPECT_EQ(s.keepalive, 0);
  EXPECT_EQ(s.max_requests, 100);
  EXPECT_EQ(s.max_requests_jitter, 10);
  EXPECT_EQ(s.worker_connections, 50);
  EXPECT_EQ(s.limit_request_line, 0);
  EXPECT_EQ(s.limit_request_fields, 20);
  EXPECT_EQ(s.limit_request_field_size, 100);
  EXPECT_EQ(s.chdir, "/srv");
  EXPECT_EQ(s.pidfile, "/run/p.pid");
  EXPECT_EQ(s.user, "www");
  EXPECT_EQ(s.group, "www");
  EXPECT_EQ(s.umask, 027);
  EXPECT_EQ(s.proc_name, "site");
  EXPECT_TRUE(s.preload);
  EXPECT_TRUE(s.reuse_port);
  EXPECT_EQ(s.log_level, "debug");
  EXPECT_EQ(s.error_logfile, "/var/log/e.log");
  EXPECT_EQ(s.access_logfile, "-");
  EXPECT_EQ(s.access_log_format, "%(h)s %(r)s");
  EXPECT_EQ(s.forwarded_allow_ips, (std::vector<std::string>{"10.0.0.1", "10.1.0.0/16"}));
  EXPECT_EQ(s.proxy_protocol, "auto");  // the flag alone, as gunicorn's nargs="?"
  EXPECT_EQ(s.proxy_allow_ips, (std::vector<std::string>{"*"}));
  EXPECT_EQ(s.backlog, 64);
  EXPECT_EQ(s.app, "mod:sym");
}

TEST(Loader, CppicornOwnFlags) {
  LoadResult r = run({"--limit-request-body", "0", "--header-timeout", "3", "--body-timeout", "4",
                      "--permit-bare-lf", "--header-map", "refuse", "--server-header", "",
                      "--app-path", "/opt/apps", "--upgrade-manual", "--upgrade-timeout", "9",
                      "--limit-request-field-size", "77", "a:b"});
  ASSERT_FALSE(r.exit_now) << r.error;
  const Settings& s = r.settings;
  EXPECT_EQ(s.limit_request_body, 0);
  EXPECT_EQ(s.header_timeout, 3);
  EXPECT_EQ(s.body_timeout, 4);
  EXPECT_TRUE(s.permit_bare_lf);
  EXPECT_EQ(s.header_underscores, HeaderUnderscores::kRefuse);
  EXPECT_EQ(s.server_header, "");
  EXPECT_EQ(s.app_path, "/opt/apps");
  EXPECT_TRUE(s.upgrade_manual);
  EXPECT_EQ(s.upgrade_timeout, 9);
  EXPECT_EQ(s.limit_request_field_size, 77);
}

TEST(Loader, YamlFile) {
  TempYaml f(
      "app: site:app\nbind:\n  - 0.0.0.0:80\n  - '[::1]:81'\nworkers: 3\npreload: yes\n"
      "header_map: dangerous\numask: 022\nforwarded_allow_ips: 10.0.0.1,10.0.0.2\n");
  LoadResult r = run({"-c", f.path()});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.app, "site:app");
  EXPECT_EQ(r.settings.bind, (std::vector<std::string>{"0.0.0.0:80", "[::1]:81"}));
  EXPECT_EQ(r.settings.workers, 3);
  EXPECT_TRUE(r.settings.preload);
  EXPECT_EQ(r.settings.header_underscores, HeaderUnderscores::kAllow);
  EXPECT_EQ(r.settings.umask, 022);
  EXPECT_EQ(r.settings.forwarded_allow_ips, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(r.settings.config_file, f.path());
}

TEST(Loader, EnvironmentArgs) {
  LoadResult r = run({"a:b"}, {{"CPPICORN_CMD_ARGS",
                                "-w 5 --bind '127.0.0.1:1' "
                                "--access-logformat \"%(h)s \\\"%(r)s\\\"\""}});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.workers, 5);
  EXPECT_EQ(r.settings.bind, (std::vector<std::string>{"127.0.0.1:1"}));
  EXPECT_EQ(r.settings.access_log_format, "%(h)s \"%(r)s\"");
}

TEST(Loader, PrecedenceDefaultsYamlEnvArgv) {
  TempYaml f("app: y:app\nworkers: 2\ntimeout: 7\nkeepalive: 8\nbacklog: 9\n");
  std::map<std::string, std::string> env{{"CPPICORN_CMD_ARGS", "-w 3 -t 70"},
                                         {"WEB_CONCURRENCY", "6"}};
  LoadResult r = run({"-c", f.path(), "-w", "4"}, env);
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.workers, 4);            // argv beats env, YAML and WEB_CONCURRENCY
  EXPECT_EQ(r.settings.timeout, 70);           // env beats YAML
  EXPECT_EQ(r.settings.keepalive, 8);          // YAML beats the default
  EXPECT_EQ(r.settings.graceful_timeout, 30);  // default
  EXPECT_EQ(r.settings.app, "y:app");
  // The config file may also be named in the environment.
  r = run({}, {{"CPPICORN_CMD_ARGS", "-c " + f.path()}});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.backlog, 9);
}

TEST(Loader, WebConcurrency) {
  EXPECT_EQ(run({"a:b"}, {{"WEB_CONCURRENCY", "8"}}).settings.workers, 8);
  LoadResult bad = run({"a:b"}, {{"WEB_CONCURRENCY", "lots"}});
  EXPECT_FALSE(bad.exit_now);
  EXPECT_EQ(bad.settings.workers, 1);
  ASSERT_EQ(bad.warnings.size(), 1u);
  EXPECT_EQ(run({"a:b"}, {{"WEB_CONCURRENCY", "0"}}).settings.workers, 1);
  TempYaml f("workers: 2\n");
  EXPECT_EQ(run({"-c", f.path(), "a:b"}, {{"WEB_CONCURRENCY", "8"}}).settings.workers, 2);
}

TEST(Loader, LaterSourceReplacesBindList) {
  TempYaml f("bind: [127.0.0.1:1, 127.0.0.1:2]\n");
  LoadResult r = run({"-c", f.path(), "a:b"});
  EXPECT_EQ(r.settings.bind.size(), 2u);
  r = run({"-c", f.path(), "a:b"}, {{"CPPICORN_CMD_ARGS", "-b 127.0.0.1:3"}});
  EXPECT_EQ(r.settings.bind, (std::vector<std::string>{"127.0.0.1:3"}));
  r = run({"-c", f.path(), "-b", "127.0.0.1:4", "-b", "127.0.0.1:5", "a:b"},
          {{"CPPICORN_CMD_ARGS", "-b 127.0.0.1:3"}});
  EXPECT_EQ(r.settings.bind, (std::vector<std::string>{"127.0.0.1:4", "127.0.0.1:5"}));
}

TEST(Loader, CommandLineErrors) {
  LoadResult r = run({"--workers", "x", "a:b"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.error, "--workers: expected an integer, got 'x'");
  EXPECT_EQ(run({"-w", "0", "a:b"}).error, "--workers: must be between 1 and 100000, got '0'");
  EXPECT_EQ(run({"--wokers", "3", "a:b"}).error,
            "unknown option '--wokers' (did you mean '--workers'?)");
  EXPECT_EQ(run({"--wokers=3"}).error, "unknown option '--wokers' (did you mean '--workers'?)");
  EXPECT_EQ(run({"--zzzzzz"}).error, "unknown option '--zzzzzz'");
  EXPECT_EQ(run({"a:b", "c:d"}).error, "unexpected argument 'c:d' (only one APP may be given)");
  EXPECT_EQ(run({"a:b", "--timeout"}).error, "--timeout: expected a value");
  EXPECT_EQ(run({"--preload=maybe", "a:b"}).error,
            "--preload: expected true or false, got 'maybe'");
  EXPECT_EQ(run({"-t", "-1", "a:b"}).error, "--timeout: must be at least 0, got '-1'");
  EXPECT_EQ(run({"--limit-request-line", "8191", "a:b"}).error,
            "--limit-request-line: must be between 0 and 8190, got '8191'");
  EXPECT_EQ(run({}).error,
            "no application given (pass APP as MODULE:SYMBOL, or set 'app' in the config file)");
  EXPECT_EQ(run({"a:b"}, {{"CPPICORN_CMD_ARGS", "-w nope"}}).error,
            "CPPICORN_CMD_ARGS: --workers: expected an integer, got 'nope'");
  EXPECT_EQ(run({"a:b"}, {{"CPPICORN_CMD_ARGS", "-b 'x"}}).error,
            "CPPICORN_CMD_ARGS: unterminated single quote");
  EXPECT_EQ(run({"a:b"}, {{"CPPICORN_CMD_ARGS", "--help"}}).error,
            "CPPICORN_CMD_ARGS: --help is only accepted on the command line");
}

TEST(Loader, Actions) {
  LoadResult r = run({"--version"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "cppicorn " CPPICORN_VERSION "\n");
  r = run({"--help"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.output.starts_with("usage: cppicorn [OPTIONS] APP\n"));
  EXPECT_EQ(run({"-h"}).output, r.output);
}

TEST(Loader, CheckConfig) {
  LoadResult ok = run({"--check-config", "a:b"});
  EXPECT_TRUE(ok.exit_now);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.error, "");
  LoadResult bad = run({"--check-config", "-w", "0", "a:b"});
  EXPECT_TRUE(bad.exit_now);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.error, "");
  TempYaml f("wokers: 2\n");
  bad = run({"--check-config", "-c", f.path(), "a:b"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.error, f.path() + ":1: unknown setting 'wokers' (did you mean 'workers'?)");
  EXPECT_EQ(run({"--check-config"}).exit_code, 1);  // no APP
}

TEST(Loader, ReRunnableForReload) {
  TempYaml f("app: a:b\nworkers: 2\n");
  std::vector<std::string> args{"-c", f.path()};
  EXPECT_EQ(run(args).settings.workers, 2);
  {
    FILE* out = fopen(f.path().c_str(), "w");
    fputs("app: a:b\nworkers: 5\n", out);
    fclose(out);
  }
  EXPECT_EQ(run(args).settings.workers, 5);
  {
    FILE* out = fopen(f.path().c_str(), "w");
    fputs("app: a:b\nworkers: [\n", out);
    fclose(out);
  }
  LoadResult bad = run(args);
  EXPECT_TRUE(bad.exit_now);
  EXPECT_EQ(bad.exit_code, 2);
}

TEST(Loader, RelativeConfigResolvedAgainstBaseDir) {
  TempYaml f("app: a:b\nworkers: 6\n");
  std::string dir = f.path().substr(0, f.path().rfind('/'));
  std::string name = f.path().substr(dir.size() + 1);
  const char* argv[] = {"cppicorn", "-c", name.c_str()};
  LoadResult r = load(3, argv, {}, dir);
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.workers, 6);
  EXPECT_EQ(r.settings.config_file, f.path());
}

}  // namespace
}  // namespace cppicorn::config
