// cppicorn: a pre-fork HTTP/1.1 application server. main() turns the command line into
// settings, opens the listeners and hands over to the arbiter.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "app/app.h"
#include "app/pyconf.h"
#include "arbiter/arbiter.h"
#include "config/settings.h"
#include "control/cli.h"
#include "log/access_log.h"
#include "log/log.h"
#include "net/listener.h"
#include "tls/context.h"
#include "tls/ticket_keys.h"
#include "util/proctitle.h"
#include "version/version.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  using namespace cppicorn;
  if (argc > 1 && std::string_view(argv[1]) == "ctl") return control::run_cli(argc - 1, argv + 1);
  Invocation invocation;
  invocation.argv.assign(argv, argv + argc);
  invocation.env = config::environment();
  invocation.start_dir = std::filesystem::current_path().string();
  invocation.exe_path = resolve_executable(invocation.argv[0], invocation.start_dir);
  UniqueFd upgrade_pipe = Upgrade::take_ready_pipe();
  proctitle::init(argc, argv);

  // A .py config (gunicorn.conf.py) is run by the Python plugin, loaded only then.
  config::set_python_config_reader(app::pyconf::read_config);
  config::LoadResult loaded = config::load(argc, argv, invocation.env);
  if (!loaded.output.empty()) std::fputs(loaded.output.c_str(), stdout);
  if (!loaded.error.empty()) {
    // Under journald an error must carry its priority: the logger is not set up yet.
    bool journal = log::is_journal_stream(2, std::getenv("JOURNAL_STREAM"));
    std::fprintf(stderr, "%s%s\n", journal ? "<3>" : "", loaded.error.c_str());
  }
  if (loaded.exit_now) return loaded.exit_code;
  config::Settings settings = std::move(loaded.settings);

  // 0 keeps the umask we were started with: files the master creates (pidfile, sockets, logs,
  // the error log opened next included) must not become world-writable by default.
  if (settings.umask != 0) umask(static_cast<mode_t>(settings.umask));
  std::string error;
  if (!log::init(settings.log_level, settings.error_logfile, &error)) {
    std::fprintf(stderr, "Error: %s\n", error.c_str());
    return 1;
  }
  if (settings.capture_output) log::capture_output();
  spdlog::info("Starting cppicorn {}", version());
  for (const std::string& w : loaded.warnings) spdlog::warn("{}", w);
  config::export_raw_env(settings);  // before the app loads, so every worker inherits it
  if (app::pyconf::defined("on_starting")) {
    app::HookServer server;
    server.pid = getpid();
    server.num_workers = settings.workers;
    server.cfg = &settings;
    app::pyconf::call("on_starting", app::HookArgs{.server = &server});
  }
  if (!settings.access_logfile.empty() &&
      !log::AccessLog::create(settings.access_log_format, &error)) {
    spdlog::critical("access_log_format: {}", error);
    return 2;
  }
  if (!settings.chdir.empty() && chdir(settings.chdir.c_str()) != 0) {
    spdlog::critical("cannot chdir to {}: {}", settings.chdir, std::strerror(errno));
    return 1;
  }

  std::vector<net::InheritedFd> inherited = net::take_inherited_fds(&error);
  if (!error.empty()) spdlog::warn("{}", error);
  error.clear();
  std::vector<std::string> warnings;
  bool bad_config = false;
  // The metrics socket a previous master (or systemd, by name) passed is not for the app.
  std::vector<net::InheritedFd> metrics_fds;
  std::erase_if(inherited, [&](const net::InheritedFd& in) {
    bool named =
        in.name == Arbiter::kMetricsFdName ||
        (settings.metrics_bind.starts_with("fd://") && in.name == settings.metrics_bind.substr(5));
    if (named) metrics_fds.push_back(in);
    return named;
  });
  std::optional<std::vector<net::Listener>> metrics_listener;
  if (!settings.metrics_bind.empty()) {
    metrics_listener = net::open_listeners({settings.metrics_bind}, std::move(metrics_fds),
                                           net::ListenOptions{.backlog = 64, .defer_accept = 0},
                                           &error, &warnings);
    if (!metrics_listener) {
      spdlog::critical("metrics_bind: {}", error);
      return 1;
    }
  } else {
    for (const net::InheritedFd& in : metrics_fds) close(in.fd);  // metrics_bind was dropped
  }
  auto listeners = net::open_listeners(settings.bind, std::move(inherited),
                                       net::ListenOptions{.backlog = settings.backlog,
                                                          .reuse_port = settings.reuse_port,
                                                          .defer_accept = settings.defer_accept},
                                       &error, &warnings, &bad_config);
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  if (!listeners) {
    spdlog::critical("{}", error);
    return bad_config ? 2 : 1;
  }
  if (std::string e = net::resolve_tls(*listeners, !settings.certfile.empty(),
                                       settings.proxy_protocol != "off");
      !e.empty()) {
    spdlog::critical("{}", e);
    return 1;
  }

  // TLS: the context is built here, before any fork and with the master's privileges (the
  // workers drop theirs), so the service user never needs to read the key.
  std::unique_ptr<tls::TicketKeys> ticket_keys;
  std::shared_ptr<tls::Context> tls_context;
  if (!settings.certfile.empty()) {
    ticket_keys = std::make_unique<tls::TicketKeys>();
    tls_context = tls::Context::build(settings, ticket_keys.get(), &error);
    if (!tls_context) {
      spdlog::critical("TLS: {}", error);
      return 1;
    }
    tls::log_expiry(*tls_context);
  }

  std::unique_ptr<app::App> preloaded;
  if (settings.preload) {
    preloaded = app::load(settings, &error);
    if (!preloaded) {
      spdlog::critical("{}", error);
      spdlog::info("Reason: App failed to load.");
      return worker::kExitAppLoadError;
    }
  }
  Arbiter arbiter(std::move(invocation), std::move(settings), std::move(*listeners),
                  std::move(preloaded));
  if (tls_context) arbiter.use_tls(std::move(ticket_keys), std::move(tls_context));
  arbiter.adopt_upgrade_pipe(std::move(upgrade_pipe));
  if (metrics_listener) arbiter.adopt_metrics_listener(std::move(metrics_listener->front()));
  return arbiter.run();
}
