#include "worker/worker.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "app/pyconf.h"
#include "log/log.h"
#include "util/proctitle.h"
#include "worker/asgi_executor.h"
#include "worker/connection.h"
#include "worker/fork_guard.h"
#include "worker/privileges.h"
#include "worker/thread_pool.h"

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
  l.forwarder_headers = s.forwarder_headers;
  l.strip_header_spaces = s.strip_header_spaces;
  l.permit_obsolete_folding = s.permit_obsolete_folding;
  l.permit_unconventional_method = s.permit_unconventional_http_method;
  l.permit_unconventional_version = s.permit_unconventional_http_version;
  l.casefold_method = s.casefold_http_method;
  return l;
}

// INT and QUIT stop a worker at once, even in the middle of an app call.
void quit_now(int) { _exit(0); }

}  // namespace

Worker::Worker(const config::Settings& settings, std::vector<int> listen_fds, ScoreboardSlot& slot,
               std::unique_ptr<app::App> app, int boot_fd)
    : settings_(settings),
      limits_(limits_from(settings)),
      trust_(peer_trust_from(settings)),
      listen_fds_(std::move(listen_fds)),
      slot_(slot),
      app_(std::move(app)),
      boot_fd_(boot_fd) {}

Worker::~Worker() {
  ForkGuard::disarm();  // the fds it would close are about to close, their numbers to free
  executor_.reset();    // joins the pool's threads before the connections they may hold go
  all_.clear();
  if (defer_ev_) event_free(defer_ev_);
  if (ready_ev_) event_free(ready_ev_);
  if (turnover_ev_) event_free(turnover_ev_);
  accept_watch_.reset();  // before the base it registers in
  reloader_.reset();
  for (event* e : signal_events_) event_free(e);
  if (tick_) event_free(tick_);
  if (base_) event_base_free(base_);
}

app::HookWorker Worker::hook_worker() const {
  app::HookWorker me;
  me.pid = getpid();
  me.ppid = getppid();
  me.age = age_;
  me.booted = true;
  return me;
}

bool Worker::boot(int* exit_code) {
  struct sigaction sa {};
  sa.sa_handler = quit_now;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGQUIT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (HookSignals::wanted()) HookSignals::install();  // before a signal can come
  std::string error;
  if (!drop_privileges(settings_.user, settings_.group, settings_.initgroups, &error)) {
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
  if (config::uses_thread_pool(settings_) && !app_->thread_safe()) {
    spdlog::error(
        "cannot run app '{}' with threads: {}: it does not declare that it may handle "
        "requests on several threads at once (a native app sets CPPICORN_APP_THREAD_SAFE in "
        "its flags); use threads: 1 or make the app thread-safe",
        settings_.app, settings_.threads);
    *exit_code = kExitAppLoadError;
    return false;
  }
  if (config::uses_asgi(settings_) != app_->has_loop()) {
    if (app_->has_loop()) {
      spdlog::error(
          "cannot run app '{}': it is an ASGI (async) app; run it with -k asgi "
          "(worker_class: asgi)",
          settings_.app);
    } else {
      spdlog::error(
          "cannot run app '{}' with -k asgi: it is not an ASGI app (the asgi worker "
          "class serves Python ASGI 3 callables; use sync or gthread)",
          settings_.app);
    }
    *exit_code = kExitAppLoadError;
    return false;
  }
  const app::HookWorker me = hook_worker();
  app_ = app::pyconf::wrap(std::move(app_), me, settings_);  // pre_request, post_request
  if (!app_->worker_start(&error)) {
    spdlog::error("App failed to start in worker {}: {}", getpid(), error);
    *exit_code = kExitAppLoadError;
    return false;
  }
  app_started_ = true;
  app::pyconf::call("post_worker_init", app::HookArgs{.worker = &me, .cfg = &settings_});
  app::pyconf::release();  // hooks may now run on any thread
  if (HookSignals::wanted()) hook_signals_ = std::make_unique<HookSignals>(me, settings_);
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

// --reload: watch what the app was loaded from and the extra files; the first change asks
// the master, through this worker's slot, for a new generation (it looks on its tick and
// ignores a request from a generation already being replaced).
void Worker::start_reloader() {
  std::vector<std::string> files = app_->source_files();
  files.insert(files.end(), settings_.reload_extra_files.begin(),
               settings_.reload_extra_files.end());
  reloader_ = std::make_unique<Reloader>(base_, files, [this](const std::string& path) {
    spdlog::info("Worker reloading: {} modified", path);  // gunicorn's words
    slot_.reload_requested = true;
  });
  if (reloader_->fd() >= 0) ForkGuard::add(reloader_->fd());
  spdlog::debug("Worker {} watching {} files for --reload", getpid(), reloader_->watched_files());
}

// After boot (worker_start ran) and once the loop's signal handlers are in place: pool
// threads inherit the loop thread's (empty) signal mask, see ThreadPool::start.
bool Worker::start_executor(int* exit_code) {
  if (config::uses_asgi(settings_)) {
    auto loop = std::make_unique<AsgiExecutor>(base_, *app_, settings_.worker_connections);
    std::string error;
    if (!loop->start(&error)) {
      spdlog::error("App failed to start in worker {}: {}", getpid(), error);
      *exit_code = kExitAppLoadError;
      return false;
    }
    pool_ = loop.get();
    executor_ = std::move(loop);
    asgi_ = true;
    return true;
  }
  if (!config::uses_thread_pool(settings_)) {
    executor_ = std::make_unique<InlineExecutor>(slot_);
    return true;
  }
  app::App* app = app_.get();
  ThreadPool::Hooks hooks{
      [app](int index, std::string* error) { return app->thread_start(index, error); },
      [app] { app->thread_stop(); }};
  auto pool = std::make_unique<ThreadPool>(base_, settings_.threads, std::move(hooks));
  std::string error;
  if (!pool->start(&error)) {
    spdlog::error("App failed to start a thread in worker {}: {}", getpid(), error);
    *exit_code = kExitAppLoadError;
    return false;
  }
  pool_ = pool.get();
  executor_ = std::move(pool);
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
  if (settings_.reload) start_reloader();
  if (settings_.max_requests > 0) {
    std::random_device rd;
    int jitter = settings_.max_requests_jitter > 0
                     ? std::uniform_int_distribution<int>(0, settings_.max_requests_jitter)(rd)
                     : 0;
    max_requests_ = static_cast<uint64_t>(settings_.max_requests) + static_cast<uint64_t>(jitter);
  }
  accept_watch_ = std::make_unique<AcceptWatch>(base_, epoll_fd, listen_fds_, on_accept, this);
  defer_ev_ = event_new(base_, -1, 0, on_defer, this);
  ready_ev_ = event_new(base_, -1, 0, on_ready, this);
  turnover_ev_ = event_new(base_, -1, 0, on_turnover, this);
  sigset_t loop_signals;
  sigemptyset(&loop_signals);
  for (int sig : kLoopSignals) {
    event* e = evsignal_new(base_, sig, on_signal, this);
    event_add(e, nullptr);
    signal_events_.push_back(e);
    sigaddset(&loop_signals, sig);
  }
  // Any that came during boot are handled once the loop runs.
  sigprocmask(SIG_UNBLOCK, &loop_signals, nullptr);
  if (!start_executor(&exit_code)) {
    if (app_started_) app_->worker_stop();
    return exit_code;
  }
  tick_ = event_new(base_, -1, EV_PERSIST, on_tick, this);
  timeval one_second{1, 0};
  event_add(tick_, &one_second);
  update_accepting();
  slot_.heartbeat_ms = monotonic_ms();
  slot_.state = WorkerState::kIdle;
  // Tell the arbiter we serve: it waits for this before READY=1 and before retiring an old
  // generation on reload.
  char ok = 1;
  if (::write(boot_fd_, &ok, 1) < 0) spdlog::debug("boot pipe: {}", strerror(errno));
  ForkGuard::remove(boot_fd_);
  ::close(boot_fd_);
  event_base_dispatch(base_);
  // Every thread is joined (and its thread_stop hook has run) before worker_stop, which may
  // finalize an interpreter those threads were using.
  executor_.reset();
  pool_ = nullptr;
  if (access_log_) access_log_->flush();
  hook_signals_.reset();  // before the interpreter may finalize
  if (app::pyconf::defined("worker_exit")) {
    app::HookServer server;
    server.pid = getppid();
    server.num_workers = settings_.workers;
    server.cfg = &settings_;
    const app::HookWorker me = hook_worker();
    app::pyconf::call("worker_exit", app::HookArgs{.server = &server, .worker = &me});
  }
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
    accept_more_fd_ = -1;
    return;
  }
  accept_more_fd_ = listen_fd;
  ScoreboardSlot::bump(slot_.accepted);
  Connection* c;
  if (!free_.empty()) {
    c = free_.back();
    free_.pop_back();
  } else {
    all_.push_back(std::make_unique<Connection>(*this));
    c = all_.back().get();
  }
  ++open_;
  update_accepting();
  SSL_CTX* tls = nullptr;
  if (tls_ctx_ != nullptr &&
      std::find(tls_fds_.begin(), tls_fds_.end(), listen_fd) != tls_fds_.end()) {
    tls = tls_ctx_;
  }
  c->open(fd, peer, tls);
}

void Worker::update_accepting() {
  bool room = !stopping_ && open_ < static_cast<size_t>(settings_.worker_connections);
  if (pool_ != nullptr) {
    // A new client is taken only when a thread is free for it (gunicorn #908); requests on
    // connections already open queue regardless.
    room = room && in_flight_ < static_cast<size_t>(pool_->capacity()) &&
           (max_requests_ == 0 || requests_ + in_flight_ < max_requests_);
  }
  set_accepting(room);
}

// A worker whose threads are all taken stops listening, so a newcomer goes to a sibling with
// a free thread. But when every worker is saturated, requests on open keep-alive connections
// (which queue regardless) would keep the gate shut for good and starve the connections
// waiting in the listen queue. So each turn of the loop in which a call completed while
// saturated takes one newcomer, if there is one, into the back of the line: it is served
// after the requests ready before it, like any other. A connection still in the listen
// queue then means no sibling had a free thread for it.
void Worker::turn_over() {
  update_accepting();
  if (accepting_ || turnover_pending_ || stopping_ ||
      open_ >= static_cast<size_t>(settings_.worker_connections) ||
      (max_requests_ > 0 && requests_ + in_flight_ >= max_requests_)) {
    return;
  }
  turnover_pending_ = true;
  event_active(turnover_ev_, EV_TIMEOUT, 0);  // after this turn's completions: one try
}

void Worker::on_turnover(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  w->turnover_pending_ = false;
  if (w->accepting_ || w->stopping_) return;
  for (int fd : w->listen_fds_) w->accept_ready(fd);
}

void Worker::connection_closed(Connection* c) {
  free_.push_back(c);
  --open_;
  update_accepting();
  if (stopping_) exit_if_done();
}

void Worker::defer(Connection& c) {
  deferred_.push_back(&c);
  // A timer due now runs after the loop's next poll and after the I/O callbacks it brings:
  // requests that became ready meanwhile (other connections, newcomers) go first. Only
  // pipelined requests take this path, at the cost of one non-blocking poll per turn.
  if (deferred_.size() == 1) {
    timeval now{0, 0};
    event_add(defer_ev_, &now);
  }
}

void Worker::ready(Connection& c) {
  ready_.push_back(&c);
  // Active events run in the order they were activated, so this one runs after the I/O
  // callbacks of the current poll: the whole batch is known by then. No syscall.
  if (ready_.size() == 1) event_active(ready_ev_, EV_TIMEOUT, 0);
}

void Worker::on_ready(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  w->starting_.swap(w->ready_);
  if (w->starting_.size() > 1) {
    std::stable_sort(w->starting_.begin(), w->starting_.end(), [](Connection* a, Connection* b) {
      return a->last_served() < b->last_served();
    });
  }
  for (Connection* c : w->starting_) c->start_call();
  w->starting_.clear();
}

void Worker::on_defer(evutil_socket_t, short, void* self) {
  auto* w = static_cast<Worker*>(self);
  w->resuming_.swap(w->deferred_);
  for (Connection* c : w->resuming_) c->resume();  // may defer() again: into deferred_
  w->resuming_.clear();
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
  if (pool_ != nullptr) publish_calls();
  if (access_log_) access_log_->flush();
}

// gthread and asgi: the loop is never inside a call, so its heartbeat stays fresh; the
// arbiter learns about a stuck call from the oldest one a pool thread has stamped (or a
// blocked asyncio loop), published here.
void Worker::publish_calls() {
  pool_->tick();  // asgi: the app's loop must come back (its oldest() says since when not)
  std::string what;
  int64_t started = pool_->oldest(&what);
  if (started != 0) slot_.set_request(what);
  slot_.request_started_ms = started;
  if (!stopping_) slot_.state = in_flight_ > 0 ? WorkerState::kBusy : WorkerState::kIdle;
}

}  // namespace cppicorn::worker
