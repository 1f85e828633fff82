// Worker: one forked process serving connections from the shared listeners with a libevent
// loop, the only thread that polls. App calls run inline (sync: one at a time), on a pool
// of threads (gthread) or as tasks on an ASGI app's asyncio loop (asgi); either way a worker
// accepts only while a call can start at once (so a busy worker leaves new clients to its
// siblings), beats its scoreboard heartbeat, and stops gracefully on TERM (in-flight requests
// finish), at once on INT/QUIT.
#pragma once

#include <event2/event.h>
#include <openssl/types.h>
#include <signal.h>

#include <memory>
#include <vector>

#include "app/app.h"
#include "config/settings.h"
#include "http/parser.h"
#include "http/response.h"
#include "log/access_log.h"
#include "net/ip_allow.h"
#include "scoreboard/scoreboard.h"
#include "worker/accept_watch.h"
#include "worker/executor.h"
#include "worker/hook_signals.h"
#include "worker/reloader.h"

namespace cppicorn::worker {

class Connection;

// Who may speak for a client: parsed once per worker from the settings, never per request.
// One of secure_scheme_headers: a trusted peer's `name` header equal to `https_value` (any
// case) means the client used https, any other value http.
struct SchemeHeader {
  std::string_view name;
  std::string_view https_value;
};

struct PeerTrust {
  net::IpAllowList forwarded;                // forwarded_allow_ips: may set X-Forwarded-*
  net::IpAllowList proxy;                    // proxy_allow_ips: may send a PROXY header
  std::vector<SchemeHeader> scheme_headers;  // what a `forwarded` peer sets the scheme with
};
// From forwarded_allow_ips, proxy_allow_ips and secure_scheme_headers, which must outlive it.
PeerTrust peer_trust_from(const config::Settings& s);

// The signals a worker's loop handles. The arbiter forks with them blocked and the worker
// unblocks them once its handlers are in place, so a TERM sent while the app boots stops
// the worker gracefully afterwards (worker_stop runs) instead of killing it mid-boot.
inline constexpr int kLoopSignals[] = {SIGTERM, SIGUSR1, SIGHUP, SIGWINCH,
                                       SIGTTIN, SIGTTOU, SIGUSR2};

// Exit codes a worker reports to the arbiter (as gunicorn's).
constexpr int kExitBootError = 3;
constexpr int kExitAppLoadError = 4;

class Worker {
 public:
  // listen_fds stay owned by the arbiter's Listeners (inherited over fork). app is the
  // preloaded app, or null to load it here.
  Worker(const config::Settings& settings, std::vector<int> listen_fds, ScoreboardSlot& slot,
         std::unique_ptr<app::App> app, int boot_fd);
  ~Worker();

  // Connections accepted on tls_fds speak TLS with ctx (the master's, built before fork).
  void use_tls(SSL_CTX* ctx, std::vector<int> tls_fds) {
    tls_ctx_ = ctx;
    tls_fds_ = std::move(tls_fds);
  }

  // The worker's spawn order (worker.age in the config file's hooks).
  void set_age(uint64_t age) { age_ = age; }

  // Boots (app, privileges, hooks), serves until stopped; returns the process exit code.
  int run();

  // For connections.
  event_base* base() const { return base_; }
  const config::Settings& settings() const { return settings_; }
  const http::Limits& limits() const { return limits_; }
  const PeerTrust& trust() const { return trust_; }
  // Per thread: a pool thread renders the head of a streamed response itself.
  static http::DateCache& date() {
    thread_local http::DateCache cache;
    return cache;
  }
  log::AccessLog* access_log() { return access_log_.get(); }
  app::App& app() { return *app_; }
  ScoreboardSlot& slot() { return slot_; }
  bool stopping() const { return stopping_; }
  // The request about to start is the last before max_requests recycles this worker: the
  // ones served and those in flight on other threads count.
  bool last_request() const {
    return max_requests_ > 0 && requests_ + in_flight_ + 1 >= max_requests_;
  }
  // sync: this worker holds more connections than its share (the master's mean) while
  // other requests wait for it, so the response about to start lets its client go
  // (Connection: close): the client reconnects through the listen queue that every worker
  // shares, to whichever is free first. gthread admits clients by free threads instead.
  bool over_share() const {
    if (pool_ != nullptr) return false;
    int32_t share = slot_.fair_share.load(std::memory_order_relaxed);
    return share > 0 && open_ > static_cast<size_t>(share) + 1 && saturated();
  }
  // Requests wait for this worker: this turn of the loop had more than one, or more came.
  bool saturated() const { return starting_.size() > 1 || !ready_.empty(); }
  void request_done();
  void connection_closed(Connection* c);
  // App calls run on another thread (gthread's pool, asgi's loop): a connection is handed
  // over whole for the call.
  bool threaded() const { return pool_ != nullptr; }
  // asgi: a WebSocket handshake goes to the app as a call (connection_ws.cpp).
  bool asgi() const { return asgi_; }
  // Stable from boot until the loop ends: the app's thread pokes through it (WebSockets).
  Executor& executor() { return *executor_; }
  // The executor seam: a connection with a complete request hands it over; call_done() is
  // the first thing its completion does, on the loop thread.
  void submit(Task& call) {
    ++in_flight_;
    if (pool_ != nullptr) update_accepting();
    executor_->submit(call);
  }
  void call_done() {
    --in_flight_;
    if (pool_ != nullptr) {
      turn_over();
    } else if (accept_more_fd_ >= 0 && accepting_ && saturated()) {
      accept_ready(accept_more_fd_);  // sync: see accept_more_fd_
    }
  }
  // A connection with a complete request joins this poll's batch: once the loop has run
  // every I/O callback of the poll, the batch goes to the executor, least recently served
  // connection first. A keep-alive client that resends at once thus never gets ahead of one
  // whose request arrived while the worker was busy (sync) or the pool was full (gthread).
  void ready(Connection& c);
  uint64_t next_serial() { return ++serial_; }
  // Puts a connection's next (pipelined) request at the back of the line: it goes on
  // (resume()) after the requests that are ready by the loop's next poll.
  void defer(Connection& c);

 private:
  bool boot(int* exit_code);
  void start_reloader();
  bool start_executor(int* exit_code);
  void accept_ready(int listen_fd);
  void set_accepting(bool on);
  // Accept while a new connection could be served at once: not stopping, under
  // worker_connections, a thread free (gthread) and max_requests not reached.
  void update_accepting();
  // gthread, after a call completed: admission, and a newcomer's turn when saturated.
  void turn_over();
  static void on_turnover(evutil_socket_t, short, void* self);
  void publish_calls();
  static void on_defer(evutil_socket_t, short, void* self);
  static void on_ready(evutil_socket_t, short, void* self);
  void begin_graceful_stop();
  void exit_if_done();
  void tick();
  static void on_accept(int listen_fd, void* self);
  static void on_signal(evutil_socket_t sig, short what, void* self);
  static void on_tick(evutil_socket_t, short, void* self);

  const config::Settings& settings_;
  http::Limits limits_;
  PeerTrust trust_;
  std::vector<int> listen_fds_;
  SSL_CTX* tls_ctx_ = nullptr;
  std::vector<int> tls_fds_;
  ScoreboardSlot& slot_;
  std::unique_ptr<app::App> app_;
  int boot_fd_;
  event_base* base_ = nullptr;
  std::unique_ptr<AcceptWatch> accept_watch_;
  std::unique_ptr<Reloader> reloader_;  // --reload
  std::vector<event*> signal_events_;
  event* tick_ = nullptr;
  bool accepting_ = false;
  // sync: the listener the last accept came from, while it may have more (-1 once accept4
  // found it empty). A saturated sync worker takes one more after each call, so a client
  // waiting in the listen queue is admitted at the rate requests are served, not one per
  // turn of the loop (a turn serves every ready connection: seconds, under overload).
  int accept_more_fd_ = -1;
  bool stopping_ = false;
  bool app_started_ = false;
  uint64_t age_ = 0;
  app::HookWorker hook_worker() const;         // this worker as the config file's hooks see it
  std::unique_ptr<HookSignals> hook_signals_;  // worker_int / worker_abort defined
  uint64_t requests_ = 0;
  uint64_t max_requests_ = 0;  // 0: unlimited
  std::unique_ptr<log::AccessLog> access_log_;
  std::unique_ptr<Executor> executor_;
  Executor* pool_ = nullptr;  // executor_ when calls run off the loop (gthread, asgi)
  bool asgi_ = false;
  size_t in_flight_ = 0;  // submitted calls not yet completed
  event* defer_ev_ = nullptr;
  event* ready_ev_ = nullptr;
  std::vector<Connection*> ready_, starting_;  // swapped, as deferred_ and resuming_
  uint64_t serial_ = 0;
  event* turnover_ev_ = nullptr;
  bool turnover_pending_ = false;
  std::vector<Connection*> deferred_, resuming_;  // swapped, so neither reallocates for long
  std::vector<std::unique_ptr<Connection>> all_;  // owns every Connection ever made
  std::vector<Connection*> free_;                 // closed ones, ready for reuse
  size_t open_ = 0;
};

}  // namespace cppicorn::worker
