// The rows of the settings table that say what is served and how (application, sockets,
// workers, security and HTTP limits); table_operations.cpp has the rest. Adding a setting: a
// field in Settings plus one row in the part its section belongs to; CLI, YAML,
// CPPICORN_CMD_ARGS, --help, --print-config and the man page follow.
#include "config/table.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <vector>

namespace cppicorn::config {
namespace {

constexpr std::string_view kApplication = "Application";
constexpr std::string_view kSocket = "Server Socket";
constexpr std::string_view kWorkers = "Worker Processes";
constexpr std::string_view kSecurity = "Security";

// An application reference is MODULE:SYMBOL; whitespace can only be a quoting mistake, except
// among a factory's arguments ('app:create_app(a=1, b="x y")').
std::string check_app(std::string& v) {
  if (v.empty()) return "";  // unset: load() reports a missing APP once all sources are read
  auto name_end = v.begin() + static_cast<std::ptrdiff_t>(std::min(v.find('('), v.size()));
  if (std::any_of(v.begin(), name_end, [](unsigned char c) { return std::isspace(c); })) {
    return "invalid application '" + v + "' (expected MODULE:SYMBOL)";
  }
  return "";
}

const Setting kTable[] = {
    // Application.
    {.name = "app",
     .flags = "",
     .field = &Settings::app,
     .section = kApplication,
     .meta = "APP",
     .doc = "The application to serve, as MODULE:SYMBOL. A native application is MODULE.so, "
            "found in the --app-path directory or else the --chdir directory, exporting SYMBOL "
            "(app when only MODULE is given). Otherwise MODULE.py is a WSGI application: SYMBOL "
            "is its callable (application when only MODULE is given, as for gunicorn), or a "
            "factory called with literal arguments ('app:create_app(greeting=\"hi\")'). Given as "
            "the positional argument on the command line, or as the app key in the "
            "file.",
     .check = check_app},
    {.name = "chdir",
     .flags = "--chdir",
     .field = &Settings::chdir,
     .section = kApplication,
     .meta = "DIR",
     .doc = "Change to this directory before loading the application. Relative paths in "
            "other settings are resolved by the processes after this change.",
     .default_doc = "the current directory"},
    {.name = "app_path",
     .flags = "--app-path",
     .field = &Settings::app_path,
     .section = kApplication,
     .meta = "DIR",
     .doc = "A directory searched for the application module (MODULE.so, or a Python "
            "MODULE.py or package) before the working directory.",
     .default_doc = "none"},
    {.name = "preload",
     .flags = "--preload",
     .field = &Settings::preload,
     .section = kApplication,
     .doc = "Load the application in the master before forking the workers. Workers start "
            "faster and share the loaded code copy-on-write, but a reload (HUP) cannot pick "
            "up new application code; use USR2 for that."},
    {.name = "raw_env",
     .flags = "-e,--env",
     .field = &Settings::raw_env,
     .section = kApplication,
     .meta = "KEY=VALUE",
     .doc = "Set an environment variable for the application (repeatable), in the master "
            "before the app is loaded, so workers inherit it.",
     .check = check_env},
    {.name = "pythonpath",
     .flags = "--pythonpath",
     .field = &Settings::pythonpath,
     .section = kApplication,
     .meta = "DIRS",
     .doc = "Comma-separated directories put first on sys.path of a Python application.",
     .list = ListStyle::kComma},
    {.name = "root_path",
     .flags = "--root-path",
     .field = &Settings::root_path,
     .section = kApplication,
     .meta = "PATH",
     .doc = "The path the application is mounted at behind a proxy: SCRIPT_NAME of a WSGI "
            "app (root_path of an ASGI app), cut off the front of PATH_INFO (the scope's "
            "path) when a request path starts with it. Without it, the SCRIPT_NAME "
            "environment variable counts, as for gunicorn."},

    // Server socket.
    {.name = "bind",
     .flags = "-b,--bind",
     .field = &Settings::bind,
     .section = kSocket,
     .meta = "ADDRESS",
     .doc = "A socket to listen on; repeat the flag (or give a YAML list) for several. ADDRESS "
            "is HOST:PORT, [IPV6]:PORT, unix:PATH, fd://N (an inherited descriptor) or "
            "fd://NAME (a systemd socket by its FileDescriptorName=), optionally prefixed with "
            "https:// (a TLS listener, see certfile) or http:// (plain). gunicorn's forms "
            "tcp://HOST:PORT, unix://PATH, :PORT and HOST (port 8000) are accepted and "
            "normalised. A list from a later source replaces the earlier one.",
     .check = check_bind,
     .default_doc = "the sockets systemd passes (LISTEN_FDS), else 127.0.0.1:8000"},
    {.name = "backlog",
     .flags = "--backlog",
     .field = &Settings::backlog,
     .section = kSocket,
     .meta = "INT",
     .doc = "The maximum number of pending connections the kernel queues on each listening "
            "socket (listen(2) backlog; capped by net.core.somaxconn).",
     .min = 1,
     .max = 65535},
    {.name = "reuse_port",
     .flags = "--reuse-port",
     .field = &Settings::reuse_port,
     .section = kSocket,
     .doc = "Set SO_REUSEPORT on listening sockets, so several servers can bind the same "
            "address and the kernel balances connections between them."},
    {.name = "defer_accept",
     .flags = "--defer-accept",
     .field = &Settings::defer_accept,
     .section = kSocket,
     .meta = "SECONDS",
     .doc = "Hand a new TCP connection to a worker only once its first bytes arrive, or after "
            "this many seconds (TCP_DEFER_ACCEPT, as uWSGI and Apache do by default): a "
            "worker then reads the request at once instead of waking twice. 0 turns it off. "
            "Applies to the TCP sockets cppicorn binds; for systemd's sockets set "
            "DeferAcceptSec= in the .socket unit.",
     .min = 0,
     .max = 3600},

    // Worker processes.
    {.name = "workers",
     .flags = "-w,--workers",
     .field = &Settings::workers,
     .section = kWorkers,
     .meta = "INT",
     .doc = "The number of worker processes. Each worker runs one application call at a "
            "time (--threads at a time with gthread), so workers times threads is the "
            "request concurrency; a common start is 2-4 workers per core. "
            "Adjustable at run time with TTIN and TTOU.",
     .min = 1,
     .max = 100000,
     .default_doc = "$WEB_CONCURRENCY when it is a positive integer, else 1"},
    {.name = "worker_connections",
     .flags = "--worker-connections",
     .field = &Settings::worker_connections,
     .section = kWorkers,
     .meta = "INT",
     .doc = "The maximum number of open client connections per worker (idle keep-alive "
            "connections included); beyond it the worker stops accepting.",
     .min = 1},
    {.name = "worker_class",
     .flags = "-k,--worker-class",
     .field = &Settings::worker_class,
     .section = kWorkers,
     .meta = "CLASS",
     .doc = "How a worker runs application calls: sync (one at a time, inline on the worker's "
            "event loop), gthread (up to --threads at once, on a fixed pool of threads; the "
            "loop still does all socket I/O) or asgi (an ASGI 3 Python app: every call a task "
            "on one asyncio loop per worker, up to --worker-connections in flight; threads "
            "is ignored). As in gunicorn, sync with threads above 1 runs gthread, and gthread "
            "with 1 thread runs inline as sync. uvicorn's and gunicorn's ASGI worker class "
            "names mean asgi.",
     .check = check_worker_class},
    {.name = "asgi_loop",
     .flags = "--asgi-loop",
     .field = &Settings::asgi_loop,
     .section = kWorkers,
     .meta = "LOOP",
     .doc = "The asyncio event loop of an asgi worker: auto (uvloop when it is installed, "
            "else asyncio's own), asyncio, or uvloop (boot fails when it is missing).",
     .check = check_asgi_loop},
    {.name = "asgi_lifespan",
     .flags = "--asgi-lifespan",
     .field = &Settings::asgi_lifespan,
     .section = kWorkers,
     .meta = "MODE",
     .doc = "The ASGI lifespan protocol in an asgi worker: startup runs before the worker "
            "accepts, shutdown after it drained. auto runs it and goes on without it when the "
            "app raises on the lifespan scope; on requires it; off never sends it. A failed "
            "startup stops the server (exit code 4) with the app's message.",
     .check = check_asgi_lifespan},
    {.name = "asgi_disconnect_grace_period",
     .flags = "--asgi-disconnect-grace-period",
     .field = &Settings::asgi_disconnect_grace_period,
     .section = kWorkers,
     .meta = "SECONDS",
     .doc = "How long an asgi worker lets an HTTP request's task run on after its client went "
            "away, as gunicorn's setting: the app hears http.disconnect at once (its "
            "receive() returns it), and a task still running when the grace period ends is "
            "cancelled (asyncio.CancelledError raised where it waits; the worker never "
            "swallows it). Work after a complete response (background tasks) is never "
            "cancelled this way. 0 cancels at once.",
     .min = 0},
    {.name = "ws_max_size",
     .flags = "--ws-max-size",
     .field = &Settings::ws_max_size,
     .section = kWorkers,
     .meta = "BYTES",
     .doc = "The largest WebSocket message an asgi worker takes from a client, in bytes, "
            "reassembled fragments included (uvicorn's --ws-max-size, with its default of "
            "16 MiB). A larger message closes the connection with 1009 (message too big) "
            "before its payload is read.",
     .min = 1,
     .default_doc = "16777216 (16 MiB)"},
    {.name = "ws_ping_interval",
     .flags = "--ws-ping-interval",
     .field = &Settings::ws_ping_interval,
     .section = kWorkers,
     .meta = "SECONDS",
     .doc = "How long an asgi worker lets a WebSocket stay silent before it sends the client "
            "a ping (uvicorn's --ws-ping-interval, with its default), so that a connection "
            "whose peer vanished without a FIN (a dropped NAT entry, a laptop that slept) "
            "ends instead of holding its app task for ever, and idle-closing proxies see "
            "traffic. Any byte from the client restarts the count. 0 never pings.",
     .min = 0},
    {.name = "ws_ping_timeout",
     .flags = "--ws-ping-timeout",
     .field = &Settings::ws_ping_timeout,
     .section = kWorkers,
     .meta = "SECONDS",
     .doc = "How long a server ping waits for the client (its pong, or any other byte) "
            "before the WebSocket closes with 1011 and the app hears websocket.disconnect "
            "(uvicorn's --ws-ping-timeout, with its default). 0 waits for ever.",
     .min = 0},
    {.name = "threads",
     .flags = "--threads",
     .field = &Settings::threads,
     .section = kWorkers,
     .meta = "INT",
     .doc = "Application calls each worker runs at once, on a pool of this many threads. "
            "A worker accepts a new connection only while one of its threads is free, and "
            "idle keep-alive connections hold no thread. Use it for apps that wait on "
            "databases or other services: 2-8 for Python apps (the GIL runs one thread at a "
            "time, so more threads add latency, not throughput), more for native apps that "
            "declare themselves thread-safe. 1 keeps calls inline on the event loop.",
     .min = 1,
     .max = 4096},
    {.name = "max_requests",
     .flags = "--max-requests",
     .field = &Settings::max_requests,
     .section = kWorkers,
     .meta = "INT",
     .doc = "Restart a worker after it has served this many requests, a simple guard "
            "against memory leaks in the application. 0 disables recycling.",
     .min = 0},
    {.name = "max_requests_jitter",
     .flags = "--max-requests-jitter",
     .field = &Settings::max_requests_jitter,
     .section = kWorkers,
     .meta = "INT",
     .doc = "Add a random 0..INT to max_requests per worker, so workers do not all restart "
            "at the same moment.",
     .min = 0},
    {.name = "timeout",
     .flags = "-t,--timeout",
     .field = &Settings::timeout,
     .section = kWorkers,
     .meta = "SECONDS",
     .doc = "A worker silent for more than this many seconds (stuck in an application call), "
            "or one of whose threads has been in one call that long, is killed (SIGABRT, then "
            "SIGKILL) and replaced; the log names the request. With threads, the worker's "
            "other requests in flight are lost with it. 0 disables the check.",
     .min = 0},
    {.name = "graceful_timeout",
     .flags = "--graceful-timeout",
     .field = &Settings::graceful_timeout,
     .section = kWorkers,
     .meta = "SECONDS",
     .doc = "After a graceful stop (TERM, HUP, WINCH, max_requests), workers get this many "
            "seconds to finish their requests before they are killed.",
     .min = 0},
    {.name = "keepalive",
     .flags = "--keep-alive",
     .field = &Settings::keepalive,
     .section = kWorkers,
     .meta = "SECONDS",
     .doc = "How long an idle keep-alive connection waits for its next request. 0 closes "
            "every connection after one response.",
     .min = 0},

    // Security and HTTP limits.
    {.name = "limit_request_line",
     .flags = "--limit-request-line",
     .field = &Settings::limit_request_line,
     .section = kSecurity,
     .meta = "INT",
     .doc = "The maximum size in bytes of the request line (method, target, version); "
            "longer requests get 414. 0 means unlimited (the request head as a whole is "
            "still bounded).",
     .min = 0,
     .max = 8190},
    {.name = "limit_request_fields",
     .flags = "--limit-request-fields",
     .field = &Settings::limit_request_fields,
     .section = kSecurity,
     .meta = "INT",
     .doc = "The maximum number of header fields in a request; more get 431. 0 means "
            "unlimited (the request head as a whole is still bounded).",
     .min = 0,
     .max = 32768},
    {.name = "limit_request_field_size",
     .flags = "--limit-request-field_size,--limit-request-field-size",
     .field = &Settings::limit_request_field_size,
     .section = kSecurity,
     .meta = "INT",
     .doc = "The maximum size in bytes of one header field line; larger get 431. 0 means "
            "unlimited (the request head as a whole is still bounded).",
     .min = 0},
    {.name = "limit_request_body",
     .flags = "--limit-request-body",
     .field = &Settings::limit_request_body,
     .section = kSecurity,
     .meta = "BYTES",
     .doc = "The maximum size in bytes of a request body, declared or chunked; larger get "
            "413. 0 means unlimited.",
     .min = 0},
    {.name = "header_timeout",
     .flags = "--header-timeout",
     .field = &Settings::header_timeout,
     .section = kSecurity,
     .meta = "SECONDS",
     .doc = "Seconds a client has to send a whole request head (slowloris guard); the "
            "connection is closed after it. 0 disables the limit.",
     .min = 0},
    {.name = "body_timeout",
     .flags = "--body-timeout",
     .field = &Settings::body_timeout,
     .section = kSecurity,
     .meta = "SECONDS",
     .doc = "Seconds allowed between two reads of request body data before the connection "
            "is closed. 0 disables the limit.",
     .min = 0},
    {.name = "permit_bare_lf",
     .flags = "--permit-bare-lf",
     .field = &Settings::permit_bare_lf,
     .section = kSecurity,
     .doc = "Accept a bare LF (without CR) as the line end in request heads. Off by "
            "default because lenient line ends enable request smuggling behind proxies "
            "that disagree."},
    {.name = "strip_header_spaces",
     .flags = "--strip-header-spaces",
     .field = &Settings::strip_header_spaces,
     .section = kSecurity,
     .doc = "Accept whitespace between a header name and its colon (stripped) instead of "
            "answering 400. Dangerous behind a proxy that reads the name differently."},
    {.name = "permit_obsolete_folding",
     .flags = "--permit-obsolete-folding",
     .field = &Settings::permit_obsolete_folding,
     .section = kSecurity,
     .doc = "Accept obsolete line folding (a field line starting with whitespace continues "
            "the previous field's value) instead of answering 400."},
    {.name = "permit_unconventional_http_method",
     .flags = "--permit-unconventional-http-method",
     .field = &Settings::permit_unconventional_http_method,
     .section = kSecurity,
     .doc = "Accept any token as a method. By default, as gunicorn, a method must be 3 to 20 "
            "characters without lower case letters or '#', or the request gets 400."},
    {.name = "permit_unconventional_http_version",
     .flags = "--permit-unconventional-http-version",
     .field = &Settings::permit_unconventional_http_version,
     .section = kSecurity,
     .doc = "Answer requests claiming HTTP/1.2 to 1.9 as HTTP/1.1 instead of with 505."},
    {.name = "casefold_http_method",
     .flags = "--casefold-http-method",
     .field = &Settings::casefold_http_method,
     .section = kSecurity,
     .doc = "Upper-case the method before the app sees it (with "
            "--permit-unconventional-http-method, \"get\" becomes GET)."},
    {.name = "header_map",
     .flags = "--header-map",
     .field = &Settings::header_underscores,
     .section = kSecurity,
     .meta = "MODE",
     .doc = "What to do with header names containing '_', which collide with '-' once "
            "mapped to CGI-style names: drop them, refuse the request (400), or pass them "
            "on (dangerous, also spelled allow)."},
    {.name = "forwarded_allow_ips",
     .flags = "--forwarded-allow-ips",
     .field = &Settings::forwarded_allow_ips,
     .section = kSecurity,
     .meta = "IPS",
     .doc = "Comma-separated addresses or networks (CIDR) of front-end proxies trusted to "
            "set X-Forwarded-For, X-Forwarded-Proto and the like; '*' trusts every peer "
            "(only safe when nothing else can reach the socket).",
     .check = check_ip_or_network,
     .list = ListStyle::kComma},
    {.name = "secure_scheme_headers",
     .flags = "--secure-scheme-headers",
     .field = &Settings::secure_scheme_headers,
     .section = kSecurity,
     .meta = "NAME=VALUE,...",
     .doc = "Headers from a forwarded_allow_ips peer that say the client used https: NAME "
            "equal to VALUE (case-insensitive) means https, any other value http, and two "
            "that disagree get 400, as gunicorn. A YAML mapping or a Python dict in "
            "gunicorn.conf.py gives it too; empty: the peer cannot set the scheme.",
     .check = check_scheme_header,
     .list = ListStyle::kComma,
     .default_doc = "X-FORWARDED-PROTOCOL=ssl, X-FORWARDED-PROTO=https, X-FORWARDED-SSL=on",
     .map = true},
    {.name = "forwarder_headers",
     .flags = "--forwarder-headers",
     .field = &Settings::forwarder_headers,
     .section = kSecurity,
     .meta = "NAMES",
     .doc = "Header names with '_' that a forwarded_allow_ips peer may send although "
            "header_map drops them ('*': any). A SCRIPT_NAME header then sets SCRIPT_NAME "
            "for WSGI apps (the request path must start with it), as gunicorn.",
     .check = check_forwarder_header,
     .list = ListStyle::kComma},
    {.name = "proxy_protocol",
     .flags = "--proxy-protocol",
     .field = &Settings::proxy_protocol,
     .section = kSecurity,
     .meta = "[MODE]",
     .doc = "Expect a PROXY protocol header at the start of each connection from the "
            "addresses in proxy_allow_ips, and use the client address it carries. MODE is "
            "gunicorn's: off (or false), v1, v2, or auto (or true: either version); the flag "
            "alone means auto. On a TLS listener the header comes before the handshake, as "
            "HAProxy's send-proxy and nginx's proxy_protocol send it.",
     .check = check_proxy_protocol,
     .flag_value = "auto"},
    {.name = "proxy_allow_ips",
     .flags = "--proxy-allow-from",
     .field = &Settings::proxy_allow_ips,
     .section = kSecurity,
     .meta = "IPS",
     .doc = "Comma-separated addresses or networks (CIDR) allowed to send a PROXY protocol "
            "header; '*' allows every peer.",
     .check = check_ip_or_network,
     .list = ListStyle::kComma},

};

}  // namespace

// The two parts in the order --help and the man page list them.
std::span<const Setting> settings_table() {
  static const std::vector<Setting> table = [] {
    std::vector<Setting> all(std::begin(kTable), std::end(kTable));
    std::span<const Setting> rest = operations_rows();
    all.insert(all.end(), rest.begin(), rest.end());
    return all;
  }();
  return table;
}

const Setting* find_setting(std::string_view name) {
  for (const Setting& s : settings_table()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string primary_flag(const Setting& s) {
  if (s.flags.empty()) return std::string(s.meta);
  std::string_view rest = s.flags;
  std::string_view first;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view f = rest.substr(0, comma);
    if (first.empty()) first = f;
    if (f.starts_with("--")) return std::string(f);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return std::string(first);
}

}  // namespace cppicorn::config
