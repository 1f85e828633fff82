#include "worker/worker.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "log/log.h"
#include "util/proctitle.h"
#include "worker/connection.h"
#include "worker/fork_guard.h"
#include "worker/privileges.h"

namespace cppicorn::worker {
namespace {

http::Limits limits_from(const config::Settings& s) {
  http::Limits l;
  // 0 means unlimited for gunicorn's limits; the head as a whole stays bounded regardless.
  l.request_line = config::limit_cap(s.limit_request_line);
  l.fields = config::limit_cap(s.limit_request_fields);
  l.field_size = config::limit_cap(s.limit_request_field_size);
  l.head_size = std::max<size_t>(65536, static_cast<size_t>(s.limit_request_field_size) +
                                            static_cast<size_t>(s.limit_request_line) + 4);
  l.body = static_cast<uint64_t>(s.limit_request_body);
  l.permit_bare_lf = s.permit_bare_lf;
  l.underscores = static_cast<http::Underscores>(s.header_underscores);
  return l;
}

// INT and QUIT stop a worker at once, even in the middle of an app call.
void quit_now(int) { _exit(0); }

}  // namespace

Worker::Worker(const config::Settings& settings, std::vector<int> listen_fds, ScoreboardSlot& slot,
               std::unique_ptr<app::App> app, int boot_fd)
    : settings_(settings),
      limits_(limits_from(settings)),
      trust_{net::IpAllowList(settings.forwarded_allow_ips),
             net::IpAllowList(settings.proxy_allow_ips)},
      listen_fds_(std::move(listen_fds)),
      slot_(slot),
      app_(std::move(app)),
      boot_fd_(boot_fd) {}

Worker::~Worker() {
  ForkGuard::disarm();  // the fds it would close are about to close, their numbers to free
  all_.clear();
  accept_watch_.reset();  // before the base it registers in
  for (event* e : signal_events_) event_free(e);
  if (tick_) event_free(tick_);
  if (base_) event_base_free(base_);
}

bool Worker::boot(int* exit_code) {
  struct sigaction sa {};
  sa.sa_handler = quit_now;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGQUIT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::string error;
  if (!drop_privileges(settings_.user, settings_.group, &error)) {
    spdlog::error("Worker failed to boot: {}", error);
    *exit_code = kExitBootError;
    return false;
  }
  if (!app_) {
    app_ = app::load(settings_, &error);
    if (!app_) {
      spdlog::error("{}", error);
      *exit_code = kExitAppLoadError;
      return false;
    }
  }
  if (!app_->worker_start(&error)) {
    spdlog::error("App failed to start in worker {}: {}", getpid(), error);
    *exit_code = kExitAppLoadError;
    return false;
  }
  app_started_ = true;
  if (!settings_.access_logfile.empty()) {
    access_log_ = log::AccessLog::create(settings_.access_log_format, &error);
    if (!access_log_ || !access_log_->open(settings_.access_logfile, &error)) {
      spdlog::error("Worker failed to boot: access log: {}", error);
      *exit_code = kExitBootError;
      return false;
    }
  }
  return true;
}

int Worker::run() {
  // A child the app forks, even while it loads, closes these (see ForkGuard). The loop is
  // made before the app loads, while this process has one thread: every fd the creation
  // added is libevent's.
  for (int fd : listen_fds_) ForkGuard::add(fd);
  ForkGuard::add(boot_fd_);
  int epoll_fd = -1;
  std::vector<int> loop_fds;
  base_ = AcceptWatch::new_event_base(&epoll_fd, &loop_fds);
  for (int fd : loop_fds) ForkGuard::add(fd);
  int exit_code = 0;
  if (!boot(&exit_code)) return exit_code;
  if (settings_.max_requests > 0) {
    std::random_device rd;
    int jitter = settings_.max_requests_jitter > 0
                     ? std::uniform_int_distribution<int>(0, settings_.max_requests_jitter)(rd)
                     : 0;
    max_requests_ = static_cast<uint64_t>(settings_.max_requests) + static_cast<uint64_t>(jitter);
  }
  accept_watch_ = std::make_unique<AcceptWatch>(base_, epoll_fd, listen_fds_, on_accept, this);
  sigset_t loop_signals;
  sigemptyset(&loop_signals);
  for (int sig : kLoopSignals) {
    event* e = evsignal_new(base_, sig, on_signal, this);
    event_add(e, nullptr);
    signal_events_.push_back(e);
    sigaddset(&loop_signals, sig);
  }
  sigprocmask(SIG_UNBLOCK, &loop_signals, nullptr);  // any that came during boot run now
  tick_ = event_new(base_, -1, EV_PERSIST, on_tick, this);
  timeval one_second{1, 0};
  event_add(tick_, &one_second);
  set_accepting(true);
  slot_.heartbeat_ms = monotonic_ms();
  slot_.state = WorkerState::kIdle;
  // Tell the arbiter we serve: it waits for this before READY=1 and before retiring an old
  // generation on reload.
  char ok = 1;
  if (::write(boot_fd_, &ok, 1) < 0) spdlog::debug("boot pipe: {}", strerror(errno));
  ForkGuard::remove(boot_fd_);
  ::close(boot_fd_);
  event_base_dispatch(base_);
  if (access_log_) access_log_->flush();
  if (app_started_) app_->worker_stop();
  spdlog::info("Worker exiting (pid: {})", getpid());
  log::flush();
  return 0;
}

void Worker::set_accepting(bool on) {
  if (on == accepting_) return;
  accepting_ = on;
  accept_watch_->enable(on);
}

void Worker::on_accept(int listen_fd, void* self) {
  static_cast<Worker*>(self)->accept_ready(listen_fd);
}

void Worker::accept_ready(int listen_fd) {
  // One connection per wake-up: a worker that grabbed a batch would serve them one after the
  // other while its siblings idle.
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  int fd =
      accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR) {
      spdlog::error("accept: {}", strerror(errno));
    }
    return;
  }
  ScoreboardSlot::bump(slot_.accepted);
  Connection* c;
  if (!free_.empty()) {
    c = free_.back();
    free_.pop_back();
  } else {
    all_.push_back(std::make_unique<Connection>(*this));
    c = all_.back().get();
  }
  if (++open_ >= static_cast<size_t>(settings_.worker_connections)) set_accepting(false);
  c->open(fd, peer);
}

void Worker::connection_closed(Connection* c) {
  free_.push_back(c);
  --open_;
  if (!stopping_ && open_ < static_cast<size_t>(settings_.worker_connections)) set_accepting(true);
  if (stopping_) exit_if_done();
}

void Worker::request_done() {
  slot_.requests.fetch_add(1, std::memory_order_relaxed);
  if (max_requests_ > 0 && ++requests_ >= max_requests_ && !stopping_) {
    spdlog::info("Autorestarting worker after current request.");
    slot_.max_requests_reached = true;
    begin_graceful_stop();
  }
}

void Worker::begin_graceful_stop() {
  stopping_ = true;
  slot_.state = WorkerState::kStopping;
  set_accepting(false);
  for (auto& c : all_) c->stop_when_idle();
  exit_if_done();
}

void Worker::exit_if_done() {
  if (open_ == 0) event_base_loopbreak(base_);
}

void Worker::on_signal(evutil_socket_t sig, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  switch (sig) {
    case SIGTERM:
      w->begin_graceful_stop();
      break;
    case SIGUSR1:
      log::reopen();
      if (w->access_log_) w->access_log_->reopen();
      break;
    default:
      break;  // HUP, WINCH, TTIN, TTOU, USR2 are the arbiter's
  }
}

void Worker::on_tick(evutil_socket_t, short, void* self) { static_cast<Worker*>(self)->tick(); }

void Worker::tick() {
  slot_.heartbeat_ms = monotonic_ms();
  if (access_log_) access_log_->flush();
}

}  // namespace cppicorn::worker
