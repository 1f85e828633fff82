// The rows of the settings table for running the server (TLS, server mechanics, logging,
// metrics and control, debugging); table.cpp has the first part and joins the two.
#include "config/table.h"

namespace cppicorn::config {
namespace {

constexpr std::string_view kTls = "TLS";
constexpr std::string_view kMechanics = "Server Mechanics";
constexpr std::string_view kLogging = "Logging";
constexpr std::string_view kObservability = "Metrics and Control";
constexpr std::string_view kDebugging = "Debugging";

const Setting kRows[] = {
    // TLS.
    {.name = "certfile",
     .flags = "--certfile",
     .field = &Settings::certfile,
     .section = kTls,
     .meta = "FILE",
     .doc = "The server certificate (PEM, followed by its chain). Setting it turns TLS on: "
            "for every listener, as in gunicorn, unless some bind says https:// (then only "
            "those, the systemd socket named https, are TLS and the rest stay plain). A "
            "bare file name is read from $CREDENTIALS_DIRECTORY when systemd's "
            "LoadCredential= put it there. Read by the master before workers drop "
            "privileges, and again on HUP.",
     .default_doc = "none (no TLS)"},
    {.name = "keyfile",
     .flags = "--keyfile",
     .field = &Settings::keyfile,
     .section = kTls,
     .meta = "FILE",
     .doc = "The private key (PEM) of certfile; looked up like certfile.",
     .default_doc = "the key in certfile"},
    {.name = "ca_certs",
     .flags = "--ca-certs",
     .field = &Settings::ca_certs,
     .section = kTls,
     .meta = "FILE",
     .doc = "Certificates (PEM) of the CAs that sign client certificates, for cert_reqs.",
     .default_doc = "none"},
    {.name = "cert_reqs",
     .flags = "--cert-reqs",
     .field = &Settings::cert_reqs,
     .section = kTls,
     .meta = "MODE",
     .doc = "Client certificates: none (not asked for), optional (verified against "
            "ca_certs when sent) or required (a client without a valid one is refused in the "
            "handshake). gunicorn's 0, 1 and 2 are accepted.",
     .check = check_cert_reqs},
    {.name = "ciphers",
     .flags = "--ciphers",
     .field = &Settings::ciphers,
     .section = kTls,
     .meta = "LIST",
     .doc = "The TLS 1.2 cipher list, in OpenSSL's syntax (e.g. ECDHE+AESGCM:ECDHE+CHACHA20).",
     .default_doc = "OpenSSL's default"},
    {.name = "ciphersuites",
     .flags = "--ciphersuites",
     .field = &Settings::ciphersuites,
     .section = kTls,
     .meta = "LIST",
     .doc = "The TLS 1.3 cipher suites, colon-separated (e.g. "
            "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256).",
     .default_doc = "OpenSSL's default"},
    {.name = "tls_min_version",
     .flags = "--tls-min-version",
     .field = &Settings::tls_min_version,
     .section = kTls,
     .meta = "VERSION",
     .doc = "The oldest TLS version accepted: 1.2 or 1.3.",
     .check = check_tls_version},
    {.name = "suppress_ragged_eofs",
     .flags = "--suppress-ragged-eofs",
     .field = &Settings::suppress_ragged_eofs,
     .section = kTls,
     .doc = "Treat a client that closes without a TLS close_notify as a plain end of "
            "stream. When false such a close is logged (debug) as a truncation."},
    {.name = "tls_handshake_timeout",
     .flags = "--tls-handshake-timeout",
     .field = &Settings::tls_handshake_timeout,
     .section = kTls,
     .meta = "SECONDS",
     .doc = "Seconds a client has to complete the TLS handshake; the connection is closed "
            "after it. Handshakes run in the worker's event loop, so a stalled one holds no "
            "worker. 0 disables the limit.",
     .min = 0},

    // Server mechanics.
    {.name = "pidfile",
     .flags = "-p,--pid",
     .field = &Settings::pidfile,
     .section = kMechanics,
     .meta = "FILE",
     .doc = "Write the master's process id to FILE. During a USR2 upgrade the old master's "
            "pid is in FILE.oldbin, and the new master writes FILE once its workers serve.",
     .default_doc = "none"},
    {.name = "user",
     .flags = "-u,--user",
     .field = &Settings::user,
     .section = kMechanics,
     .meta = "USER",
     .doc = "Switch worker processes to this user (name or numeric id) after binding.",
     .default_doc = "unchanged"},
    {.name = "group",
     .flags = "-g,--group",
     .field = &Settings::group,
     .section = kMechanics,
     .meta = "GROUP",
     .doc = "Switch worker processes to this group (name or numeric id) after binding.",
     .default_doc = "unchanged"},
    {.name = "umask",
     .flags = "-m,--umask",
     .field = &Settings::umask,
     .section = kMechanics,
     .meta = "MODE",
     .doc = "The file mode creation mask of the processes (unix sockets, pid and log files). "
            "Octal as 0o22 or 022, or decimal as 18. 0 keeps the mask cppicorn was started "
            "with, so files are never world-writable by accident.",
     .min = 0,
     .max = 0777,
     .octal = true},
    {.name = "initgroups",
     .flags = "--initgroups",
     .field = &Settings::initgroups,
     .section = kMechanics,
     .doc = "With --user, give the workers every supplementary group the user belongs to "
            "(initgroups). Without it they keep only --group (or the user's own group)."},
    {.name = "sendfile",
     .flags = "--no-sendfile",
     .field = &Settings::sendfile,
     .section = kMechanics,
     .doc = "Send file bodies (wsgi.file_wrapper, a native app's send_file) with sendfile(). "
            "--no-sendfile reads and writes them instead, for file systems where sendfile "
            "misbehaves.",
     .negated = true},
    {.name = "proc_name",
     .flags = "-n,--name",
     .field = &Settings::proc_name,
     .section = kMechanics,
     .meta = "STRING",
     .doc = "The name shown in ps and top for the master and workers "
            "(\"cppicorn: master [NAME]\").",
     .default_doc = "the application"},
    {.name = "server_header",
     .flags = "--server-header",
     .field = &Settings::server_header,
     .section = kMechanics,
     .meta = "STRING",
     .doc = "The value of the Server response header. Empty omits the header."},
    {.name = "upgrade_manual",
     .flags = "--upgrade-manual",
     .field = &Settings::upgrade_manual,
     .section = kMechanics,
     .doc = "After a USR2 upgrade, keep the old master and its workers running until it "
            "gets WINCH (stop the old workers) and then TERM (QUIT works too), instead of "
            "retiring it as soon as the new master is ready."},
    {.name = "upgrade_timeout",
     .flags = "--upgrade-timeout",
     .field = &Settings::upgrade_timeout,
     .section = kMechanics,
     .meta = "SECONDS",
     .doc = "How long the old master waits for a new master (USR2) to report ready before "
            "it gives up, logs why and keeps serving.",
     .min = 0},

    // Logging.
    {.name = "log_level",
     .flags = "--log-level",
     .field = &Settings::log_level,
     .section = kLogging,
     .meta = "LEVEL",
     .doc = "The minimum level of error log messages: debug, info, warning, error or "
            "critical.",
     .check = check_log_level},
    {.name = "error_logfile",
     .flags = "--error-logfile,--log-file",
     .field = &Settings::error_logfile,
     .section = kLogging,
     .meta = "FILE",
     .doc = "Where the error log goes: a file, or '-' for standard error (under journald "
            "the lines carry priority prefixes instead of timestamps). Reopened on USR1."},
    {.name = "capture_output",
     .flags = "--capture-output",
     .field = &Settings::capture_output,
     .section = kLogging,
     .doc = "Send what the processes write to standard output and error (an app's print(), "
            "a library's warnings) to the error log file as well."},
    {.name = "access_logfile",
     .flags = "--access-logfile",
     .field = &Settings::access_logfile,
     .section = kLogging,
     .meta = "FILE",
     .doc = "Where the access log goes: a file, or '-' for standard output. Empty turns "
            "access logging off. Reopened on USR1.",
     .default_doc = "off"},
    {.name = "access_log_format",
     .flags = "--access-logformat",
     .field = &Settings::access_log_format,
     .section = kLogging,
     .meta = "FORMAT",
     .doc = "The access log line, with gunicorn's atoms: %(h)s remote address, %(t)s time, "
            "%(r)s request line, %(s)s status, %(b)s body bytes, %(f)s referer, %(a)s user "
            "agent, %(D)s microseconds, %({name}i)s a request header, %({name}o)s a response "
            "header the app set, and the rest of "
            "gunicorn's set."},

    // Metrics and control.
    {.name = "metrics_bind",
     .flags = "--metrics-bind",
     .field = &Settings::metrics_bind,
     .section = kObservability,
     .meta = "ADDRESS",
     .doc = "Serve Prometheus metrics (/metrics) and the health checks /health/ready (200 "
            "while taking traffic, 503 once draining) and /health/live on this socket, from "
            "the master: they answer even when every worker is busy or stuck. ADDRESS is as "
            "for --bind (HOST:PORT, unix:PATH, fd://NAME); read at start, a reload keeps it. "
            "Keep it on loopback or a private network: it needs no credentials.",
     .check = [](std::string& v) { return v.empty() ? std::string() : check_bind(v); },
     .default_doc = "off"},
    {.name = "control_socket",
     .flags = "--control-socket",
     .field = &Settings::control_socket,
     .section = kObservability,
     .meta = "PATH",
     .doc = "The unix socket `cppicorn ctl` talks to (mode 0600, or 0660 for control_group). "
            "Root and the user the master and workers run as may use every command; "
            "control_group members may read status. 'none' turns it off.",
     .default_doc = "$RUNTIME_DIRECTORY/ctl when systemd runs the service, else off"},
    {.name = "control_group",
     .flags = "--control-group",
     .field = &Settings::control_group,
     .section = kObservability,
     .meta = "GROUP",
     .doc = "A group (name or number) whose members may run `cppicorn ctl status`.",
     .default_doc = "none"},
    {.name = "statsd_host",
     .flags = "--statsd-host",
     .field = &Settings::statsd_host,
     .section = kObservability,
     .meta = "STATSD_ADDR",
     .doc = "Push gunicorn's StatsD metrics (gunicorn.requests, gunicorn.request.status.CODE, "
            "gunicorn.request.duration, gunicorn.workers, gunicorn.log.*) to this UDP address "
            "(HOST:PORT, HOST for port 8125, or unix:PATH for a datagram socket). The master "
            "sends them once a second from the scoreboard's totals, where gunicorn sends "
            "three packets per request from every worker; docs/metrics.md lists the "
            "metrics and how they differ from gunicorn's.",
     .check = check_statsd_host,
     .default_doc = "off"},
    {.name = "statsd_prefix",
     .flags = "--statsd-prefix",
     .field = &Settings::statsd_prefix,
     .section = kObservability,
     .meta = "STATSD_PREFIX",
     .doc = "Put this before every StatsD metric name; a trailing dot is added when missing.",
     .check = check_statsd_prefix},
    {.name = "dogstatsd_tags",
     .flags = "--dogstatsd-tags",
     .field = &Settings::dogstatsd_tags,
     .section = kObservability,
     .meta = "DOGSTATSD_TAGS",
     .doc = "Comma-separated DogStatsD tags appended to every StatsD line as |#TAGS, such as "
            "'env:prod,app:shop'."},

    // Debugging.
    {.name = "reload",
     .flags = "--reload",
     .field = &Settings::reload,
     .section = kDebugging,
     .doc = "Start a new generation of workers, as HUP does, when the application's code "
            "changes: each worker watches (inotify) the files it loaded the app from, its "
            "MODULE.so or every Python module in sys.modules once the app is imported, and "
            "the --reload-extra-file files. A file counts as changed when it is written and "
            "closed, or renamed over. For development; with --preload the master's copy of "
            "the app is what new workers fork from, so use USR2 there."},
    {.name = "reload_extra_files",
     .flags = "--reload-extra-file",
     .field = &Settings::reload_extra_files,
     .section = kDebugging,
     .meta = "FILE",
     .doc = "With --reload, watch this file too (templates, configuration); repeatable. "
            "Relative to the directory after --chdir; a file that does not exist yet counts "
            "once it is written.",
     .default_doc = "none"},
};

}  // namespace

std::span<const Setting> operations_rows() { return kRows; }

}  // namespace cppicorn::config
