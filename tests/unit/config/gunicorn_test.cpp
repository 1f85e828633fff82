// Every gunicorn 26 setting is known: implemented by a row of the settings table, or a
// Foreign row that answers with what to do instead, from every source (argv, the env
// variable, the YAML file). Never "unknown option".
#include <gtest/gtest.h>

#include <algorithm>

#include "config/table.h"
#include "config_test_util.h"

namespace cppicorn::config {
namespace {

using testing::run;
using testing::TempYaml;

// gunicorn 26's KNOWN_SETTINGS: gunicorn/config.py of 20.1 (Debian 12's python3-gunicorn),
// the names added up to 23 (benoitc/gunicorn), and those of 24-26 (control socket, ASGI,
// HTTP/2, dirty arbiters, uWSGI, --root-path). Hooks (on_starting ...) are config-file
// callables, not settings with a value; they are the Python config file's business.
constexpr std::string_view kGunicornSettings[] = {"config",
                                                  "wsgi_app",
                                                  "bind",
                                                  "backlog",
                                                  "workers",
                                                  "worker_class",
                                                  "threads",
                                                  "worker_connections",
                                                  "max_requests",
                                                  "max_requests_jitter",
                                                  "timeout",
                                                  "graceful_timeout",
                                                  "keepalive",
                                                  "limit_request_line",
                                                  "limit_request_fields",
                                                  "limit_request_field_size",
                                                  "reload",
                                                  "reload_engine",
                                                  "reload_extra_files",
                                                  "spew",
                                                  "check_config",
                                                  "print_config",
                                                  "preload_app",
                                                  "sendfile",
                                                  "reuse_port",
                                                  "chdir",
                                                  "daemon",
                                                  "raw_env",
                                                  "pidfile",
                                                  "worker_tmp_dir",
                                                  "user",
                                                  "group",
                                                  "umask",
                                                  "initgroups",
                                                  "tmp_upload_dir",
                                                  "secure_scheme_headers",
                                                  "forwarded_allow_ips",
                                                  "accesslog",
                                                  "disable_redirect_access_to_syslog",
                                                  "access_log_format",
                                                  "errorlog",
                                                  "loglevel",
                                                  "capture_output",
                                                  "logger_class",
                                                  "logconfig",
                                                  "logconfig_dict",
                                                  "logconfig_json",
                                                  "syslog_addr",
                                                  "syslog",
                                                  "syslog_prefix",
                                                  "syslog_facility",
                                                  "enable_stdio_inheritance",
                                                  "statsd_host",
                                                  "dogstatsd_tags",
                                                  "statsd_prefix",
                                                  "proc_name",
                                                  "default_proc_name",
                                                  "pythonpath",
                                                  "paste",
                                                  "proxy_protocol",
                                                  "proxy_allow_ips",
                                                  "keyfile",
                                                  "certfile",
                                                  "ssl_version",
                                                  "cert_reqs",
                                                  "ca_certs",
                                                  "suppress_ragged_eofs",
                                                  "do_handshake_on_connect",
                                                  "ciphers",
                                                  "ssl_context",
                                                  "raw_paste_global_conf",
                                                  "permit_obsolete_folding",
                                                  "strip_header_spaces",
                                                  "permit_unconventional_http_method",
                                                  "permit_unconventional_http_version",
                                                  "casefold_http_method",
                                                  "forwarder_headers",
                                                  "header_map",
                                                  "tolerate_dangerous_framing",
                                                  "control_socket",
                                                  "control_socket_mode",
                                                  "control_socket_disable",
                                                  "asgi_loop",
                                                  "asgi_lifespan",
                                                  "root_path",
                                                  "http_protocols",
                                                  "http2_max_concurrent_streams",
                                                  "http2_initial_window_size",
                                                  "http2_max_frame_size",
                                                  "http2_max_header_list_size",
                                                  "dirty_apps",
                                                  "dirty_workers",
                                                  "dirty_timeout",
                                                  "dirty_threads",
                                                  "dirty_graceful_timeout",
                                                  "protocol",
                                                  "uwsgi_allow_ips"};

// gunicorn names that cppicorn's table spells differently (its YAML keys predate this list).
std::string_view cppicorn_name(std::string_view g) {
  if (g == "preload_app") return "preload";
  if (g == "accesslog") return "access_logfile";
  if (g == "errorlog") return "error_logfile";
  if (g == "loglevel") return "log_level";
  return g;
}

bool is_action(std::string_view g) {
  return g == "config" || g == "check_config" || g == "print_config";
}

TEST(Gunicorn, EverySettingIsKnown) {
  for (std::string_view g : kGunicornSettings) {
    if (is_action(g)) continue;  // -c, --check-config, --print-config
    bool implemented = find_setting(cppicorn_name(g)) != nullptr;
    bool foreign = find_foreign(g) != nullptr;
    // A name must never be in both tables.
    EXPECT_TRUE(implemented || foreign) << g << " is unknown";
    EXPECT_FALSE(implemented && foreign) << g << " is in both tables";
  }
}

TEST(Gunicorn, EveryFlagIsAcceptedOnTheCommandLine) {
  for (const Foreign& f : foreign_table()) {
    if (f.flags.empty() || f.refused) continue;
    std::string flag(f.flags.substr(f.flags.rfind(',') + 1));
    std::vector<std::string> args{flag};
    if (f.value) args.push_back(std::string(f.ignore_value.empty() ? "x" : "other"));
    args.push_back("hello:app");
    LoadResult r = run(args);
    EXPECT_FALSE(r.exit_now) << flag << ": " << r.error;
    ASSERT_EQ(r.warnings.size(), 1u) << flag;
    EXPECT_TRUE(r.warnings[0].starts_with(flag + ": ")) << r.warnings[0];
    EXPECT_EQ(r.warnings[0].find("unknown"), std::string::npos) << r.warnings[0];
  }
}

TEST(Gunicorn, DaemonIsRefusedWithWhatToDoInstead) {
  LoadResult r = run({"-D", "hello:app"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.error.starts_with("--daemon: cppicorn does not daemonize")) << r.error;
  EXPECT_NE(r.error.find("systemd"), std::string::npos);
}

TEST(Gunicorn, WorkerTmpDirWarnsAboutTheScoreboard) {
  LoadResult r = run({"--worker-tmp-dir", "/dev/shm", "hello:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("scoreboard"), std::string::npos) << r.warnings[0];
}

TEST(Gunicorn, ValuesThatChangeNothingAreSilent) {
  LoadResult r = run({"--threads", "1", "-k", "sync", "--reload-engine", "auto", "hello:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_TRUE(r.warnings.empty());
  r = run({"-k", "gunicorn.workers.sync.SyncWorker", "hello:app"});
  EXPECT_FALSE(r.exit_now) << r.error;
}

TEST(Gunicorn, WorkerClassNames) {
  for (const char* green :
       {"gevent", "eventlet", "tornado", "gunicorn.workers.ggevent.GeventWorker"}) {
    LoadResult r = run({"-k", green, "hello:app"});
    EXPECT_TRUE(r.exit_now) << green;
    EXPECT_NE(r.error.find("use gthread"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("asgi"), std::string::npos) << r.error;
  }
  // uvicorn's worker (the usual FastAPI line) and gunicorn's are the asgi class.
  LoadResult r = run({"-k", "uvicorn.workers.UvicornWorker", "main:app"});
  EXPECT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.worker_class, "asgi");
  EXPECT_TRUE(uses_asgi(r.settings));
  EXPECT_FALSE(uses_thread_pool(r.settings));
  r = run({"-k", "asgi", "--threads", "4", "main:app"});  // threads: ignored, as gunicorn's
  EXPECT_FALSE(uses_thread_pool(r.settings));
  r = run({"-k", "nope", "hello:app"});
  EXPECT_NE(r.error.find("unknown worker class 'nope'"), std::string::npos) << r.error;
  for (std::string v : {"uvicorn_worker.UvicornWorker", "gunicorn.workers.gasgi.ASGIWorker"}) {
    EXPECT_EQ(check_worker_class(v), "");
    EXPECT_EQ(v, "asgi");
  }
}

TEST(Gunicorn, AsgiSettings) {
  LoadResult r = run({"-k", "asgi", "--asgi-loop", "UVLOOP", "--asgi-lifespan", "off", "m:app"});
  EXPECT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.asgi_loop, "uvloop");
  EXPECT_EQ(r.settings.asgi_lifespan, "off");
  r = run({"--asgi-lifespan", "maybe", "m:app"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_NE(r.error.find("expected auto, on, off, got 'maybe'"), std::string::npos) << r.error;
}

TEST(Gunicorn, ForeignKeysInTheYamlFile) {
  TempYaml yaml("workers: 2\nworker_tmp_dir: /dev/shm\nstatsd_host: localhost:8125\n");
  LoadResult r = run({"-c", yaml.path(), "hello:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.workers, 2);
  EXPECT_EQ(r.settings.statsd_host, "localhost:8125");  // implemented, so no warning
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find(":2: worker_tmp_dir: "), std::string::npos) << r.warnings[0];
  TempYaml daemon("daemon: true\n");
  r = run({"-c", daemon.path(), "hello:app"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_NE(r.error.find(":1: daemon: cppicorn does not daemonize"), std::string::npos) << r.error;
}

TEST(Gunicorn, ForeignFlagsInTheEnvironmentVariable) {
  LoadResult r = run({"hello:app"}, {{"CPPICORN_CMD_ARGS", "--spew --daemon"}});
  EXPECT_TRUE(r.exit_now);
  EXPECT_TRUE(r.error.starts_with("CPPICORN_CMD_ARGS: --daemon: ")) << r.error;
}

TEST(Gunicorn, ImplementedSettings) {
  LoadResult r =
      run({"-e", "A=1", "--env", "B=x=y", "--pythonpath", "/a,/b", "--root-path", "/mnt",
           "--capture-output", "--initgroups", "--no-sendfile", "--strip-header-spaces",
           "--permit-obsolete-folding", "--permit-unconventional-http-method",
           "--permit-unconventional-http-version", "--casefold-http-method", "hello:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  const Settings& s = r.settings;
  EXPECT_EQ(s.raw_env, (std::vector<std::string>{"A=1", "B=x=y"}));
  EXPECT_EQ(s.pythonpath, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(s.root_path, "/mnt");
  EXPECT_TRUE(s.capture_output && s.initgroups && s.strip_header_spaces &&
              s.permit_obsolete_folding && s.permit_unconventional_http_method &&
              s.permit_unconventional_http_version && s.casefold_http_method);
  EXPECT_FALSE(s.sendfile);
  EXPECT_TRUE(run({"hello:app"}).settings.sendfile);
  // gunicorn's --proxy-protocol [MODE]: the APP after the bare flag is never its value.
  EXPECT_EQ(run({"--proxy-protocol", "hello:app"}).settings.proxy_protocol, "auto");
  EXPECT_EQ(run({"--proxy-protocol", "hello:app"}).settings.app, "hello:app");
  EXPECT_EQ(run({"--proxy-protocol", "v2", "hello:app"}).settings.proxy_protocol, "v2");
  EXPECT_EQ(run({"--proxy-protocol=false", "hello:app"}).settings.proxy_protocol, "off");
  EXPECT_NE(run({"--proxy-protocol=v3", "hello:app"}).error.find("expected off, v1, v2 or auto"),
            std::string::npos);
  r = run({"-e", "NOEQUALS", "hello:app"});
  EXPECT_NE(r.error.find("expected KEY=VALUE"), std::string::npos) << r.error;
  TempYaml yaml("sendfile: false\nraw_env: [\"C=3\"]\n");
  r = run({"-c", yaml.path(), "hello:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_FALSE(r.settings.sendfile);
  EXPECT_EQ(r.settings.raw_env, (std::vector<std::string>{"C=3"}));
}

TEST(Gunicorn, SchemeAndForwarderHeaders) {
  const Settings defaults;
  EXPECT_EQ(defaults.secure_scheme_headers,
            (std::vector<std::string>{"X-FORWARDED-PROTOCOL=ssl", "X-FORWARDED-PROTO=https",
                                      "X-FORWARDED-SSL=on"}));
  EXPECT_EQ(defaults.forwarder_headers, (std::vector<std::string>{"SCRIPT_NAME", "PATH_INFO"}));
  LoadResult r = run({"--secure-scheme-headers", "x-scheme = https,Front-End-Https=on",
                      "--forwarder-headers", "remote_user,*", "hello:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.secure_scheme_headers,
            (std::vector<std::string>{"X-SCHEME=https", "FRONT-END-HTTPS=on"}));
  EXPECT_EQ(r.settings.forwarder_headers, (std::vector<std::string>{"REMOTE_USER", "*"}));
  // A YAML mapping is the NAME=VALUE list, and reads back from --print-config's list.
  TempYaml yaml("secure_scheme_headers: {X-Scheme: https}\n");
  r = run({"-c", yaml.path(), "hello:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.secure_scheme_headers, (std::vector<std::string>{"X-SCHEME=https"}));
  EXPECT_NE(run({"--secure-scheme-headers", "X-Scheme=", "hello:app"})
                .error.find("expected a value after '='"),
            std::string::npos);
  EXPECT_NE(
      run({"--forwarder-headers", "a b", "hello:app"}).error.find("invalid forwarder header 'a b'"),
      std::string::npos);
  // A mapping where a setting is no NAME=VALUE list is still refused.
  TempYaml bind("bind: {a: b}\n");
  EXPECT_NE(run({"-c", bind.path(), "hello:app"}).error.find("expected a list, got a mapping"),
            std::string::npos);
}

}  // namespace
}  // namespace cppicorn::config
