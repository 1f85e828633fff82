#include "arbiter/arbiter.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "log/log.h"
#include "util/proctitle.h"

namespace cppicorn {
namespace {

constexpr int kSignals[] = {SIGHUP,  SIGTERM, SIGINT,  SIGQUIT,  SIGTTIN,
                            SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGHUP:
      return "hup";
    case SIGTERM:
      return "term";
    case SIGINT:
      return "int";
    case SIGQUIT:
      return "quit";
    case SIGTTIN:
      return "ttin";
    case SIGTTOU:
      return "ttou";
    case SIGUSR1:
      return "usr1";
    case SIGUSR2:
      return "usr2";
    case SIGWINCH:
      return "winch";
    default:
      return "chld";
  }
}

timeval seconds(double s) {
  return {static_cast<time_t>(s), static_cast<suseconds_t>((s - static_cast<int64_t>(s)) * 1e6)};
}

}  // namespace

Arbiter::Arbiter(Invocation invocation, config::Settings settings,
                 std::vector<net::Listener> listeners, std::unique_ptr<app::App> preloaded)
    : invocation_(std::move(invocation)),
      settings_(std::move(settings)),
      listeners_(std::move(listeners)),
      preloaded_(std::move(preloaded)),
      wanted_(settings_.workers) {
  start_time_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Arbiter::~Arbiter() {
  metrics_.reset();  // its events live in base_
  control_.reset();
  if (upgrade_ev_) event_free(upgrade_ev_);
  for (event* e : events_) event_free(e);
  if (base_) event_base_free(base_);
}

int Arbiter::run() {
  master_pid_ = getpid();
  if (takeover_pipe_) watch_old_master();
  set_title();
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    spdlog::critical("cannot create the boot pipe: {}", strerror(errno));
    return 1;
  }
  boot_read_.reset(pipe_fds[0]);
  boot_write_.reset(pipe_fds[1]);
  fcntl(boot_read_.get(), F_SETFL, O_NONBLOCK);
  // A new master takes the pidfile over only once it serves (new_master_ready).
  if (!settings_.pidfile.empty() && !takeover_pipe_) {
    std::string error;
    if (!Pidfile::create(settings_.pidfile, &error)) {
      spdlog::critical("{}", error);
      return 1;
    }
    pidfile_ = std::make_unique<Pidfile>(settings_.pidfile);
  }

  base_ = event_base_new();
  for (int sig : kSignals) {
    event* e = evsignal_new(base_, sig, on_signal, this);
    event_add(e, nullptr);
    events_.push_back(e);
  }
  event* boot = event_new(base_, boot_read_.get(), EV_READ | EV_PERSIST, on_boot_pipe, this);
  event_add(boot, nullptr);
  events_.push_back(boot);
  if (old_master_pidfd_) {
    event* gone = event_new(base_, old_master_pidfd_.get(), EV_READ, on_old_master_exit, this);
    event_add(gone, nullptr);
    events_.push_back(gone);
  }
  event* tick = event_new(base_, -1, EV_PERSIST, on_tick, this);
  timeval one = seconds(1);
  event_add(tick, &one);
  events_.push_back(tick);
  if (auto interval = notifier_.watchdog_interval()) {
    event* wd = event_new(base_, -1, EV_PERSIST, on_watchdog, this);
    timeval tv = seconds(static_cast<double>(interval->count()) / 1e6);
    event_add(wd, &tv);
    events_.push_back(wd);
  }
  signal(SIGPIPE, SIG_IGN);
  start_metrics();
  if (!takeover_pipe_) start_control();  // a new master binds it once it serves

  for (const net::Listener& l : listeners_) {
    spdlog::info("Listening at: {} ({})", l.url, getpid());
  }
  if (config::uses_asgi(settings_)) {
    spdlog::info("Using worker: asgi (asyncio loop: {}, lifespan: {})", settings_.asgi_loop,
                 settings_.asgi_lifespan);
  } else if (config::uses_thread_pool(settings_)) {
    spdlog::info("Using worker: gthread with {} threads", settings_.threads);
  } else {
    spdlog::info("Using worker: {}", settings_.worker_class);
  }
  set_wanted(wanted_);
  hook("when_ready");
  manage_workers();
  event_base_dispatch(base_);
  hook("on_exit");
  if (!settings_.pidfile.empty()) pidfile_.reset();
  if (statsd_) push_statsd(scoreboard_.totals());  // the last interval's counts
  if (metrics_ && !handed_over_ && !metrics_->listener().unix_path.empty())
    unlink(metrics_->listener().unix_path.c_str());
  if (control_ && !handed_over_) control_->unlink_path();
  spdlog::info("Shutting down: Master");
  log::flush();
  return exit_code_;
}

void Arbiter::on_signal(evutil_socket_t sig, short, void* self) {
  static_cast<Arbiter*>(self)->dispatch_signal(static_cast<int>(sig));
}

void Arbiter::dispatch_signal(int sig) {
  if (sig != SIGCHLD) spdlog::info("Handling signal: {}", signal_name(sig));
  switch (sig) {
    case SIGHUP:
      handle_hup();
      break;
    case SIGTERM:
      handle_term();
      break;
    case SIGINT:
      handle_int();
      break;
    case SIGQUIT:
      handle_quit();
      break;
    case SIGTTIN:
      handle_ttin();
      break;
    case SIGTTOU:
      handle_ttou();
      break;
    case SIGUSR1:
      handle_usr1();
      break;
    case SIGUSR2:
      handle_usr2();
      break;
    case SIGWINCH:
      handle_winch();
      break;
    case SIGCHLD:
      handle_chld();
      break;
    default:
      break;
  }
}

// HUP: re-read the configuration and start a new generation of workers; the old one retires
// once the new one serves (manage_workers). A bad file is refused and nothing changes.
void Arbiter::handle_hup() {
  if (stopping_) return;
  spdlog::info("Hang up: Master");
  std::vector<const char*> argv;
  for (const std::string& a : invocation_.argv) argv.push_back(a.c_str());
  config::LoadResult loaded = config::load(static_cast<int>(argv.size()), argv.data(),
                                           invocation_.env, invocation_.start_dir);
  if (loaded.exit_now) {
    spdlog::error("Reload refused, keeping the running configuration: {}", loaded.error);
    last_reload_error_ = loaded.error;
    ++reloads_failed_;
    return;
  }
  if (!reload_tls(loaded.settings)) {
    last_reload_error_ = "the TLS certificate or key was refused (see the error log)";
    ++reloads_failed_;
    return;
  }
  if (loaded.settings.bind != settings_.bind && !rebind(loaded.settings)) {
    ++reloads_failed_;
    return;
  }
  if (std::string e = net::resolve_tls(listeners_, !loaded.settings.certfile.empty(),
                                       loaded.settings.proxy_protocol != "off");
      !e.empty()) {
    spdlog::error("Reload refused, keeping the running configuration: {}", e);
    undo_rebind();
    ++reloads_failed_;
    return;
  }
  previous_tls_ = std::exchange(tls_, std::move(previous_tls_));
  tls_swapped_ = true;
  previous_settings_ = std::make_unique<config::Settings>(settings_);
  settings_ = std::move(loaded.settings);
  std::string error;
  if (!log::init(settings_.log_level, settings_.error_logfile, &error)) {
    spdlog::error("Reload: cannot reopen the error log: {}", error);
  }
  if (settings_.capture_output) log::capture_output();
  for (const std::string& w : loaded.warnings) spdlog::warn("{}", w);
  config::export_raw_env(settings_);  // the new generation's environment
  set_wanted(settings_.workers);
  hook("on_reload");
  ++generation_;
  reloading_ = true;
  notifier_.reloading(fmt::format("Reloading: starting {} new workers", wanted_));
  manage_workers();
}

tls::TicketKeys* Arbiter::ticket_keys() {
  if (!ticket_keys_) ticket_keys_ = std::make_unique<tls::TicketKeys>();
  return ticket_keys_.get();
}

// HUP re-reads the certificate and key: a new context for the new generation, or, when the
// pair does not load or match, the reload is refused and the running generation keeps serving.
// The new context waits in previous_tls_ until handle_hup swaps it in.
bool Arbiter::reload_tls(const config::Settings& next) {
  previous_tls_.reset();
  if (next.certfile.empty()) return true;
  std::string error;
  previous_tls_ = tls::Context::build(next, ticket_keys(), &error);
  if (!previous_tls_) {
    spdlog::error("Reload refused, keeping the running configuration: TLS: {}", error);
    last_reload_ = "last reload refused: TLS: " + error;
    update_status(true);
    return false;
  }
  tls::log_expiry(*previous_tls_);
  return true;
}

// A reload that changes `bind`, as gunicorn's: listeners still named keep their socket (and
// queue: nothing is lost), new ones are bound. Dropped ones close when the new generation
// serves (finish_rebind), and in the kernel once the old workers, which hold copies, are
// gone; if it fails, abort_reload puts the previous set back. False, with nothing changed,
// when a new address cannot be had.
bool Arbiter::rebind(const config::Settings& next) {
  finish_rebind();  // a reload still in flight counts as done
  std::vector<net::InheritedFd> running;
  for (const net::Listener& l : listeners_)
    running.push_back({fcntl(l.fd.get(), F_DUPFD_CLOEXEC, 0), l.name});
  std::string error;
  std::vector<std::string> unclaimed;  // open_listeners' notes on the sockets no bind kept
  auto opened = net::open_listeners(next.bind, std::move(running),
                                    net::ListenOptions{.backlog = next.backlog,
                                                       .reuse_port = next.reuse_port,
                                                       .defer_accept = next.defer_accept},
                                    &error, &unclaimed);
  if (!opened) {
    spdlog::error("Reload refused, keeping the running configuration: {}", error);
    last_reload_error_ = error;
    return false;
  }
  for (net::Listener& l : *opened) {
    const net::Listener* old = find_listener(listeners_, l.url);
    if (old == nullptr) spdlog::info("Listening at: {} ({})", l.url, getpid());
    // A socket file this master created stays its to remove on shutdown.
    if (old != nullptr && l.unix_path.empty()) l.unix_path = old->unix_path;
  }
  previous_listeners_ = std::exchange(listeners_, std::move(*opened));
  return true;
}

void Arbiter::finish_rebind() {
  for (const net::Listener& old : previous_listeners_) {
    if (find_listener(listeners_, old.url) != nullptr) continue;
    spdlog::info("Stopped listening at: {}", old.url);
    if (!old.unix_path.empty()) unlink(old.unix_path.c_str());
  }
  previous_listeners_.clear();
}

void Arbiter::undo_rebind() {
  if (previous_listeners_.empty()) return;
  for (const net::Listener& l : listeners_) {
    if (find_listener(previous_listeners_, l.url) != nullptr || l.unix_path.empty()) continue;
    unlink(l.unix_path.c_str());  // bound by the failed reload
  }
  listeners_ = std::move(previous_listeners_);
  previous_listeners_.clear();
}

const net::Listener* Arbiter::find_listener(const std::vector<net::Listener>& in,
                                            const std::string& url) {
  for (const net::Listener& l : in)
    if (l.url == url) return &l;
  return nullptr;
}

void Arbiter::handle_term() { stop(true); }
void Arbiter::handle_int() { stop(false); }
void Arbiter::handle_quit() { stop(false); }

void Arbiter::handle_ttin() {
  if (stopping_) return;
  if (wanted_ + 1 > Scoreboard::kMaxWorkers) {
    spdlog::warn("Refusing TTIN: at the maximum of {} workers", Scoreboard::kMaxWorkers);
    return;
  }
  set_wanted(wanted_ + 1);
  manage_workers();
}

void Arbiter::handle_ttou() {
  if (stopping_) return;
  if (wanted_ <= 1) {
    spdlog::info("Ignoring TTOU: one worker is the minimum");
    return;
  }
  set_wanted(wanted_ - 1);
  manage_workers();
}

void Arbiter::handle_usr1() {
  log::reopen();
  kill_all(SIGUSR1);
}

// WINCH: stop the workers but keep the master and its sockets (nginx's upgrade window);
// HUP starts workers again.
void Arbiter::handle_winch() {
  if (stopping_) return;
  spdlog::info("Stopping all workers; HUP starts them again");
  set_wanted(0);
  manage_workers();
}

void Arbiter::handle_chld() { reap_workers(); }

void Arbiter::stop(bool graceful) {
  if (stopping_ && graceful) return;
  bool first = !stopping_;
  stopping_ = true;
  // Stopping an old master whose successor serves is the end of a (manual) upgrade.
  if (upgrade_ && upgrade_ready_ && !handed_over_) hand_over();
  if (first && !handed_over_) notifier_.stopping("Stopping: draining workers");
  // Stop accepting now: the workers' copies close as they exit. Socket files stay when the
  // new master serves on them.
  if (!handed_over_) net::unlink_unix_sockets(listeners_);
  listeners_.clear();
  double limit = graceful ? settings_.graceful_timeout : 1.0;
  stop_deadline_ms_ = monotonic_ms() + static_cast<int64_t>(limit * 1000);
  kill_all(graceful ? SIGTERM : SIGQUIT);
  if (workers_.empty()) event_base_loopbreak(base_);
}

void Arbiter::halt(int exit_code, const std::string& reason) {
  spdlog::info("Reason: {}", reason);
  exit_code_ = exit_code;
  stop(true);
}

void Arbiter::on_boot_pipe(evutil_socket_t fd, short, void* self) {
  char buf[256];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  static_cast<Arbiter*>(self)->check_booted();
}

void Arbiter::on_tick(evutil_socket_t, short, void* self) { static_cast<Arbiter*>(self)->tick(); }

void Arbiter::tick() {
  Counters totals = scoreboard_.totals();
  count_rate(totals);
  push_statsd(totals);
  if (!stopping_) check_booted();
  if (!stopping_ && settings_.reload) check_reload_requests();
  if (ticket_keys_) ticket_keys_->rotate_if_due(monotonic_ms() / 1000);
  check_upgrade_timeout();
  // Fallback for kernels without pidfds: notice the old master's exit on the tick.
  if (old_master_ != 0 && getppid() != old_master_) old_master_gone();
  murder_workers();
  publish_fair_share();
  if (stopping_) {
    int64_t left = stop_deadline_ms_ - monotonic_ms();
    if (left <= 0) {
      kill_all(SIGKILL);
    } else {
      notifier_.extend_timeout(std::chrono::milliseconds(left + 5000));
    }
    return;
  }
  update_status(false);
}

void Arbiter::on_watchdog(evutil_socket_t, short, void* self) {
  static_cast<Arbiter*>(self)->send_watchdog();
}

// WATCHDOG=1 only while the pool can serve: a wedged pool stops the pings and systemd
// restarts the service.
void Arbiter::send_watchdog() {
  if (pool_healthy()) {
    notifier_.watchdog();
  } else {
    spdlog::warn("Pool unhealthy (no worker with a fresh heartbeat): withholding WATCHDOG=1");
  }
}

std::string Arbiter::status_line() const {
  int booted = 0;
  uint64_t served = served_before_;
  for (const auto& [pid, w] : workers_) {
    if (w.booted && !w.retiring) ++booted;
  }
  for (int i = 0; i < Scoreboard::kMaxWorkers; ++i) {
    auto& slot = const_cast<Scoreboard&>(scoreboard_)[i];
    if (slot.state.load() != WorkerState::kFree) served += slot.requests.load();
  }
  std::string s =
      fmt::format("{} of {} workers serving, {} requests served by them", booted, wanted_, served);
  if (!last_reload_.empty()) s += "; " + last_reload_;
  return s;
}

void Arbiter::update_status(bool force) {
  std::string s = status_line();
  if (force || s != last_status_) {
    last_status_ = s;
    notifier_.status(s);
  }
}

}  // namespace cppicorn
