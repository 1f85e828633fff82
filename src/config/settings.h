// Settings: every knob cppicorn has, as one typed struct, and the loader that fills it.
//
// The table behind it (table.cpp) is the single source of truth: each row names a
// setting, its CLI flags, YAML key, env/type, default, validator, section and documentation,
// and CLI11 flags, the YAML reader, CPPICORN_CMD_ARGS, --help, --print-config and the man page
// are all generated from it. Precedence: defaults < YAML file < CPPICORN_CMD_ARGS < argv.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cppicorn::config {

// How header names containing '_' are treated (gunicorn's header_map).
enum class HeaderUnderscores { kDrop, kRefuse, kAllow };

struct Settings {
  // Server socket.
  std::vector<std::string> bind;  // empty: systemd's fds, else 127.0.0.1:8000
  int backlog = 2048;
  bool reuse_port = false;
  int defer_accept = 1;
  // Worker processes.
  int workers = 1;  // default: $WEB_CONCURRENCY, else 1
  double timeout = 30;
  double graceful_timeout = 30;
  double keepalive = 2;
  int max_requests = 0;  // 0: never recycle
  int max_requests_jitter = 0;
  int worker_connections = 1000;       // per-worker cap on open connections
  std::string worker_class = "sync";   // sync, gthread or asgi
  int threads = 1;                     // app calls in flight per worker; > 1 runs gthread
  std::string asgi_loop = "auto";      // auto (uvloop when installed), asyncio or uvloop
  std::string asgi_lifespan = "auto";  // auto, on or off
  int64_t ws_max_size = 16 << 20;      // bytes of one WebSocket message (asgi), as uvicorn's
  // asgi: seconds a request's task runs on after its client left, before it is cancelled.
  double asgi_disconnect_grace_period = 3;
  // asgi: seconds of silence on a WebSocket before the server pings it (0: never), and how
  // long the ping then waits for any byte before the connection closes with 1011.
  double ws_ping_interval = 20;
  double ws_ping_timeout = 20;
  // Security / HTTP limits.
  int limit_request_line = 4094;
  int limit_request_fields = 100;
  int limit_request_field_size = 8190;
  int64_t limit_request_body = 1 << 30;  // bytes, 0: unlimited
  double header_timeout = 10;            // seconds to receive a whole request head
  double body_timeout = 30;              // seconds between body bytes
  bool permit_bare_lf = false;
  HeaderUnderscores header_underscores = HeaderUnderscores::kDrop;
  std::string server_header = "cppicorn";  // empty: no Server header
  std::vector<std::string> forwarded_allow_ips = {"127.0.0.1", "::1"};
  // NAME=VALUE: from a forwarded_allow_ips peer, header NAME equal to VALUE means https and
  // any other value http (gunicorn's defaults).
  std::vector<std::string> secure_scheme_headers = {
      "X-FORWARDED-PROTOCOL=ssl", "X-FORWARDED-PROTO=https", "X-FORWARDED-SSL=on"};
  // Header names with '_' that a forwarded_allow_ips peer may send ("*": any); SCRIPT_NAME
  // then sets the WSGI mount point.
  std::vector<std::string> forwarder_headers = {"SCRIPT_NAME", "PATH_INFO"};
  std::string proxy_protocol = "off";  // off, v1, v2 or auto (either version)
  std::vector<std::string> proxy_allow_ips = {"127.0.0.1", "::1"};
  // gunicorn's parser leniencies (all off, as in gunicorn).
  bool strip_header_spaces = false;
  bool permit_obsolete_folding = false;
  bool permit_unconventional_http_method = false;
  bool permit_unconventional_http_version = false;
  bool casefold_http_method = false;
  // Application.
  std::string app;       // module:symbol (positional argument)
  std::string chdir;     // change to this directory before loading the app
  std::string app_path;  // extra directory searched for module.so
  bool preload = false;
  // Debugging (gunicorn's development reload).
  bool reload = false;                          // inotify on the app's files: a new generation
  std::vector<std::string> reload_extra_files;  // watched as well, with reload
  // TLS (gunicorn's names where it has one).
  std::string certfile;            // empty: no TLS
  std::string keyfile;             // empty: the key is in certfile
  std::string ca_certs;            // CAs that sign client certificates
  std::string cert_reqs = "none";  // none, optional, required
  std::string ciphers;             // TLS 1.2 cipher list; empty: OpenSSL's default
  std::string ciphersuites;        // TLS 1.3 suites; empty: OpenSSL's default
  std::string tls_min_version = "1.2";
  bool suppress_ragged_eofs = true;  // a close without close_notify is a plain EOF
  double tls_handshake_timeout = 10;
  std::vector<std::string> raw_env;     // KEY=VALUE, set in the master before loading
  std::vector<std::string> pythonpath;  // put first on sys.path (Python apps)
  std::string root_path;                // SCRIPT_NAME of WSGI apps; empty: $SCRIPT_NAME
  // Server mechanics.
  std::string pidfile;
  std::string user;
  std::string group;
  int umask = 0;
  bool initgroups = false;  // with user: all its supplementary groups
  bool sendfile = true;     // false: file bodies are read and written
  std::string proc_name;    // default: the app name
  bool upgrade_manual = false;
  double upgrade_timeout = 60;
  // Logging.
  std::string log_level = "info";
  std::string error_logfile = "-";
  bool capture_output = false;  // stdout/stderr into the error log file
  std::string access_logfile;   // empty: off; "-": stdout
  std::string access_log_format = R"(%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s")";
  // Metrics and control.
  std::string metrics_bind;    // empty: no metrics listener
  std::string control_socket;  // empty: $RUNTIME_DIRECTORY/ctl under systemd; "none": off
  std::string control_group;   // may read status
  std::string statsd_host;     // empty: no statsd push; else HOST:PORT or unix:PATH
  std::string statsd_prefix;   // "" or ending in "."
  std::string dogstatsd_tags;  // appended to every line as |#TAGS
  // Where the values came from.
  std::string config_file;     // -c/--config (or ./gunicorn.conf.py found without one)
  bool python_config = false;  // config_file is Python: its hooks run (app/pyconf.h)
};

// What loading produced: settings to run with, or something to print and an exit code.
struct LoadResult {
  Settings settings;
  bool exit_now = false;  // --help, --version, --print-config, --check-config, or an error
  int exit_code = 0;
  std::string output;  // text for stdout (help, printed config)
  std::string error;   // one line for stderr, no trailing newline, e.g.
                       // "/etc/cppicorn/x.yaml:3: unknown setting 'wokers' (did you mean
                       // 'workers'?)"
  std::vector<std::string> warnings;  // non-fatal, for the log (e.g. a bad WEB_CONCURRENCY)
};

// Loads settings from argv, the environment (CPPICORN_CMD_ARGS, WEB_CONCURRENCY) and the YAML
// file named by -c/--config. Never exits the process and never throws.
LoadResult load(int argc, const char* const* argv, const std::map<std::string, std::string>& env);
// The same, with a relative -c/--config FILE resolved against `base_dir` instead of the
// current directory: for the SIGHUP reload after --chdir moved the master (pass the
// directory it started in). settings.config_file is always absolute.
LoadResult load(int argc, const char* const* argv, const std::map<std::string, std::string>& env,
                const std::string& base_dir);

// -e/--env: sets each KEY=VALUE of raw_env in this process's environment (the master, before
// loading the app or forking a generation, so that workers inherit it).
void export_raw_env(const Settings& s);

// One module-level name of a Python config file (gunicorn.conf.py) as the Python plugin read
// it: its value as text (lists item by item), so the settings table converts and checks it
// as it does a YAML value.
struct PythonValue {
  std::string name;
  int line = 0;  // of its last top-level assignment or def; 0 when not known
  enum Kind { kScalar, kList, kNone, kHook, kOther, kMap } kind = kScalar;
  std::vector<std::string> items;  // kScalar: one; kList: each item; kMap: each KEY=VALUE
  std::string type;                // the Python type's name, for messages
};
// Runs a Python config (a file, or "python:module.name") in the embedded interpreter and
// lists its names; returns "" or the error ("FILE:LINE: SyntaxError: ..."). main() installs
// the one that loads the Python plugin; without one a .py config is refused.
using PythonConfigReader = std::string (*)(const std::string& location,
                                           std::vector<PythonValue>* out);
void set_python_config_reader(PythonConfigReader reader);
// Whether load() reads `location` (a -c value) as Python: anything but "*.yaml", "*.yml" and
// "*.json" (as gunicorn, which runs every -c file), "python:MODULE" and "file:PATH".
bool is_python_config(std::string_view location);

// The current environment as a map (for load()).
std::map<std::string, std::string> environment();

// A limit setting (limit_request_*) as the parser's cap: 0 means unlimited, and the parser's
// bound on the whole request head still applies.
constexpr size_t limit_cap(int64_t value) {
  return value <= 0 ? SIZE_MAX : static_cast<size_t>(value);
}

// Whether workers run app calls on a pool of threads (gthread, or sync with threads > 1, as
// gunicorn does) rather than inline on the loop thread. One thread is always inline.
// The asgi class runs every call on one asyncio loop and ignores threads, as gunicorn's.
inline bool uses_asgi(const Settings& s) { return s.worker_class == "asgi"; }
inline bool uses_thread_pool(const Settings& s) { return s.threads > 1 && !uses_asgi(s); }

// The man-page fragment (roff) describing every setting, for man/cppicorn.1.
std::string settings_roff();

}  // namespace cppicorn::config
