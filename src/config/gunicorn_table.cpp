// gunicorn's settings that have no cppicorn equivalent: each is known by its gunicorn name and
// flags, so a gunicorn command line or config never meets "unknown option", and each says
// why it has no effect here and what to use instead. Accepted ones only warn; refused ones
// stop the server, because running without them would silently change what the user asked
// for (a daemon that stays in the foreground, TLS that is not there).
//
// The list is gunicorn 26's KNOWN_SETTINGS (gunicorn/config.py) minus the names kTable
// implements; tests/unit/config/gunicorn_test.cpp holds the full list and checks that every
// name is in one table or the other.
#include <algorithm>

#include "config/table.h"

namespace cppicorn::config {
namespace {

constexpr std::string_view kNoTlsOption =
    "has no effect: cppicorn's TLS is set with certfile, keyfile, ca_certs, cert_reqs, ciphers, "
    "ciphersuites and tls_min_version";
constexpr std::string_view kSyslog =
    "has no effect: cppicorn logs to --error-logfile; under systemd log to '-' and journald "
    "(which forwards to syslog) records every line with its priority";
constexpr std::string_view kLogConfig =
    "has no effect: the server's log is configured by --log-level, --error-logfile and "
    "--access-logformat (the app's own Python logging still works)";
constexpr std::string_view kNoPaste =
    "PasteDeploy is not supported: serve the WSGI callable itself (MODULE:NAME)";
constexpr std::string_view kNoDirty =
    "has no effect: cppicorn has no dirty arbiters; run long jobs in a separate service";
constexpr std::string_view kNoControl =
    "has no effect: cppicorn's control socket is control_socket (mode 0600, 0660 with "
    "control_group; 'none' turns it off)";
constexpr std::string_view kNoHttp2 = "has no effect: cppicorn speaks HTTP/1.1 only";

constexpr Foreign kForeign[] = {
    // Debugging.
    {.name = "reload_engine",
     .flags = "--reload-engine",
     .value = true,
     .ignore_value = "auto",
     .message = "has no effect: --reload always uses inotify"},
    {.name = "spew",
     .flags = "--spew",
     .message = "has no effect: the server is not Python; run the app under python3 -m trace "
                "to trace it"},
    // Server mechanics.
    {.name = "daemon",
     .flags = "-D,--daemon",
     .refused = true,
     .message = "cppicorn does not daemonize: run it under systemd (cppicorn.systemd(7): "
                "Type=notify, socket activation) or a supervisor that keeps it in the "
                "foreground"},
    {.name = "worker_tmp_dir",
     .flags = "--worker-tmp-dir",
     .value = true,
     .message = "has no effect: workers report liveness through the shared-memory "
                "scoreboard, not heartbeat files, so there is nothing to put on a tmpfs"},
    {.name = "tmp_upload_dir",
     .value = true,
     .message = "has no effect: request bodies are streamed to the app, never spooled to disk"},
    {.name = "tolerate_dangerous_framing",
     .flags = "--tolerate-dangerous-framing",
     .message = "has no effect: ambiguous framing (Content-Length with Transfer-Encoding, "
                "repeated lengths) is always refused"},
    {.name = "paste",
     .flags = "--paste,--paster",
     .value = true,
     .refused = true,
     .message = kNoPaste},
    {.name = "raw_paste_global_conf",
     .flags = "--paste-global",
     .value = true,
     .refused = true,
     .message = kNoPaste},
    {.name = "wsgi_app",
     .value = true,
     .message = "is called app here: give APP on the command line or 'app:' in the config"},
    {.name = "default_proc_name", .value = true, .message = "has no effect (see --name)"},
    // Logging.
    {.name = "disable_redirect_access_to_syslog",
     .flags = "--disable-redirect-access-to-syslog",
     .message = kSyslog},
    {.name = "syslog", .flags = "--log-syslog", .message = kSyslog},
    {.name = "syslog_addr", .flags = "--log-syslog-to", .value = true, .message = kSyslog},
    {.name = "syslog_prefix", .flags = "--log-syslog-prefix", .value = true, .message = kSyslog},
    {.name = "syslog_facility",
     .flags = "--log-syslog-facility",
     .value = true,
     .message = kSyslog},
    {.name = "enable_stdio_inheritance",
     .flags = "-R,--enable-stdio-inheritance",
     .message = "has no effect: cppicorn never daemonizes, so its workers always inherit "
                "stdio"},
    {.name = "logger_class", .flags = "--logger-class", .value = true, .message = kLogConfig},
    {.name = "logconfig", .flags = "--log-config", .value = true, .message = kLogConfig},
    {.name = "logconfig_dict", .value = true, .message = kLogConfig},
    {.name = "logconfig_json", .flags = "--log-config-json", .value = true, .message = kLogConfig},
    // SSL.
    {.name = "ssl_version", .flags = "--ssl-version", .value = true, .message = kNoTlsOption},
    {.name = "do_handshake_on_connect",
     .flags = "--do-handshake-on-connect",
     .message = kNoTlsOption},
    {.name = "ssl_context", .value = true, .message = kNoTlsOption},
    // gunicorn 24-26: control socket options, HTTP/2, dirty arbiters, uWSGI.
    {.name = "control_socket_mode",
     .flags = "--control-socket-mode",
     .value = true,
     .message = kNoControl},
    {.name = "control_socket_disable", .flags = "--no-control-socket", .message = kNoControl},
    {.name = "http_protocols",
     .flags = "--http-protocols",
     .value = true,
     .ignore_value = "h1",
     .message = kNoHttp2},
    {.name = "http2_max_concurrent_streams",
     .flags = "--http2-max-concurrent-streams",
     .value = true,
     .message = kNoHttp2},
    {.name = "http2_initial_window_size",
     .flags = "--http2-initial-window-size",
     .value = true,
     .message = kNoHttp2},
    {.name = "http2_max_frame_size",
     .flags = "--http2-max-frame-size",
     .value = true,
     .message = kNoHttp2},
    {.name = "http2_max_header_list_size",
     .flags = "--http2-max-header-list-size",
     .value = true,
     .message = kNoHttp2},
    {.name = "dirty_apps",
     .flags = "--dirty-app",
     .value = true,
     .refused = true,
     .message = "cppicorn has no dirty arbiters: run the long jobs in a separate service"},
    {.name = "dirty_workers", .flags = "--dirty-workers", .value = true, .message = kNoDirty},
    {.name = "dirty_timeout", .flags = "--dirty-timeout", .value = true, .message = kNoDirty},
    {.name = "dirty_threads", .flags = "--dirty-threads", .value = true, .message = kNoDirty},
    {.name = "dirty_graceful_timeout",
     .flags = "--dirty-graceful-timeout",
     .value = true,
     .message = kNoDirty},
    {.name = "protocol",
     .flags = "--protocol",
     .value = true,
     .ignore_value = "http",
     .refused = true,
     .message = "cppicorn speaks HTTP only: point nginx at it with proxy_pass, not uwsgi_pass"},
    {.name = "uwsgi_allow_ips",
     .flags = "--uwsgi-allow-from",
     .value = true,
     .message = "has no effect: cppicorn speaks HTTP only"},
};

}  // namespace

std::span<const Foreign> foreign_table() { return kForeign; }

const Foreign* find_foreign(std::string_view name) {
  auto it = std::find_if(std::begin(kForeign), std::end(kForeign),
                         [name](const Foreign& f) { return f.name == name; });
  return it == std::end(kForeign) ? nullptr : &*it;
}

std::string foreign_outcome(const Foreign& f, std::string_view where, std::string value,
                            std::string* warning) {
  if (f.check != nullptr) {  // a name mapped to this build's spelling, or refused outright
    std::string err = f.check(value);
    if (!err.empty()) return std::string(where) + ": " + err;
  }
  if (!f.ignore_value.empty() && value == f.ignore_value) return "";
  std::string msg = std::string(where) + ": " + (f.check ? "'" + value + "' " : std::string()) +
                    std::string(f.message);
  if (f.refused) return msg;
  *warning = msg;
  return "";
}

}  // namespace cppicorn::config
