// Worker: one forked process serving connections from the shared listeners with a libevent
// loop, one application call at a time. It accepts only while its loop runs (so a worker busy
// in the app leaves new clients to its siblings), beats its scoreboard heartbeat, and stops
// gracefully on TERM (in-flight requests finish), at once on INT/QUIT.
#pragma once

#include <event2/event.h>
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

namespace cppicorn::worker {

class Connection;

// Who may speak for a client: parsed once per worker from the settings, never per request.
struct PeerTrust {
  net::IpAllowList forwarded;  // forwarded_allow_ips: may set X-Forwarded-*
  net::IpAllowList proxy;      // proxy_allow_ips: may send a PROXY header
};

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

  // Boots (app, privileges, hooks), serves until stopped; returns the process exit code.
  int run();

  // For connections.
  event_base* base() const { return base_; }
  const config::Settings& settings() const { return settings_; }
  const http::Limits& limits() const { return limits_; }
  const PeerTrust& trust() const { return trust_; }
  http::DateCache& date() { return date_; }
  log::AccessLog* access_log() { return access_log_.get(); }
  app::App& app() { return *app_; }
  ScoreboardSlot& slot() { return slot_; }
  bool stopping() const { return stopping_; }
  // The request being served is the last before max_requests recycles this worker.
  bool last_request() const { return max_requests_ > 0 && requests_ + 1 >= max_requests_; }
  void request_done();
  void connection_closed(Connection* c);

 private:
  bool boot(int* exit_code);
  void accept_ready(int listen_fd);
  void set_accepting(bool on);
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
  ScoreboardSlot& slot_;
  std::unique_ptr<app::App> app_;
  int boot_fd_;
  event_base* base_ = nullptr;
  std::unique_ptr<AcceptWatch> accept_watch_;
  std::vector<event*> signal_events_;
  event* tick_ = nullptr;
  bool accepting_ = false;
  bool stopping_ = false;
  bool app_started_ = false;
  uint64_t requests_ = 0;
  uint64_t max_requests_ = 0;  // 0: unlimited
  http::DateCache date_;
  std::unique_ptr<log::AccessLog> access_log_;
  std::vector<std::unique_ptr<Connection>> all_;  // owns every Connection ever made
  std::vector<Connection*> free_;                 // closed ones, ready for reuse
  size_t open_ = 0;
};

}  // namespace cppicorn::worker
