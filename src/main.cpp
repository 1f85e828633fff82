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
#include "arbiter/arbiter.h"
#include "config/settings.h"
#include "control/cli.h"
#include "log/access_log.h"
#include "log/log.h"
#include "net/listener.h"
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

  config::LoadResult loaded = config::load(argc, argv, invocation.env);
  if (!loaded.output.empty()) std::fputs(loaded.output.c_str(), stdout);
  if (!loaded.error.empty()) {
    // Under journald an error must carry its priority: the logger is not set up yet.
    bool journal = log::is_journal_stream(2, std::getenv("JOURNAL_STREAM"));
    std::fprintf(stderr, "%s%s\n", journal ? "<3>" : "", loaded.error.c_str());
  }
  if (loaded.exit_now) return loaded.exit_code;
  config::Settings settings = std::move(loaded.settings);

  std::string error;
  if (!log::init(settings.log_level, settings.error_logfile, &error)) {
    std::fprintf(stderr, "Error: %s\n", error.c_str());
    return 1;
  }
  spdlog::info("Starting cppicorn {}", version());
  for (const std::string& w : loaded.warnings) spdlog::warn("{}", w);
  // 0 keeps the umask we were started with: files the master creates (pidfile, sockets, logs)
  // must not become world-writable by default.
  if (settings.umask != 0) umask(static_cast<mode_t>(settings.umask));
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
                                       &error, &warnings);
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  if (!listeners) {
    spdlog::critical("{}", error);
    return 1;
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
  arbiter.adopt_upgrade_pipe(std::move(upgrade_pipe));
  if (metrics_listener) arbiter.adopt_metrics_listener(std::move(metrics_listener->front()));
  return arbiter.run();
}
