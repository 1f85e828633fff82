// Arbiter: the master process. It owns the listening sockets and a pool of forked workers,
// turns signals into actions (one small method per signal, as gunicorn's arbiter does) and
// speaks to systemd. It never reads a request.
#pragma once

#include <event2/event.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/app.h"
#include "app/pyconf_plugin.h"
#include "arbiter/pidfile.h"
#include "arbiter/upgrade.h"
#include "config/settings.h"
#include "control/server.h"
#include "metrics/exposition.h"
#include "metrics/http_endpoint.h"
#include "metrics/statsd.h"
#include "net/listener.h"
#include "scoreboard/scoreboard.h"
#include "systemd/notify.h"
#include "tls/context.h"
#include "tls/ticket_keys.h"
#include "util/unique_fd.h"

namespace cppicorn {

// How the arbiter was started: what HUP re-reads and USR2 re-executes.
struct Invocation {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string start_dir;  // the directory we started in: a relative -c is relative to it
  std::string exe_path;   // the binary USR2 executes (resolved from argv[0] at start)
};

class Arbiter {
 public:
  Arbiter(Invocation invocation, config::Settings settings, std::vector<net::Listener> listeners,
          std::unique_ptr<app::App> preloaded);
  ~Arbiter();

  // The TLS context of the first generation, built by main before any fork (null: no TLS).
  void use_tls(std::unique_ptr<tls::TicketKeys> keys, std::shared_ptr<tls::Context> context) {
    ticket_keys_ = std::move(keys);
    tls_ = std::move(context);
  }
  // The session-ticket keys every generation's context shares (made on first use).
  tls::TicketKeys* ticket_keys();

  // A new master started by USR2 reports readiness to its old master on this pipe.
  void adopt_upgrade_pipe(UniqueFd pipe) { takeover_pipe_ = std::move(pipe); }
  // The metrics_bind socket, opened by main() with the other listeners.
  void adopt_metrics_listener(net::Listener l) { metrics_listener_ = std::move(l); }
  // The name the metrics socket carries in LISTEN_FDNAMES when a USR2 hands it over.
  static constexpr const char* kMetricsFdName = "cppicorn-metrics";

  // Runs until stopped; returns the process exit code.
  int run();

 private:
  // One record per live worker process.
  struct WorkerRecord {
    int slot = -1;
    uint64_t generation = 0;
    uint64_t age = 0;  // spawn order: TTOU retires the oldest
    bool booted = false;
    bool retiring = false;                      // sent TERM
    bool aborted = false;                       // sent ABRT for a timeout
    ExitCause retire_cause = ExitCause::kStop;  // why it was sent TERM
    int64_t kill_at_ms = 0;                     // SIGKILL if still alive then (0: no deadline)
  };

  // Signals.
  void handle_hup();
  void handle_term();
  void handle_int();
  void handle_quit();
  void handle_ttin();
  void handle_ttou();
  void handle_usr1();
  void handle_usr2();
  void handle_winch();
  void handle_chld();

  // The pool (arbiter_workers.cpp).
  void spawn_worker();
  void manage_workers();
  void retire(pid_t pid, WorkerRecord& w, ExitCause why);
  static ExitCause exit_cause(const WorkerRecord& w, int status, bool recycled);
  void reap_workers();
  void worker_exited(pid_t pid, const WorkerRecord& w, int status);
  void check_booted();
  void publish_fair_share();
  void check_reload_requests();
  void murder_workers();
  void kill_all(int sig);
  bool pool_healthy() const;

  // The USR2 upgrade, old-master side (arbiter_upgrade.cpp).
  void upgrade_ready();
  void upgrade_failed(const std::string& reason);
  void hand_over();
  void check_upgrade_timeout();
  void new_master_ready();
  void set_title();
  void watch_old_master();
  void old_master_gone();
  static void on_old_master_exit(evutil_socket_t fd, short, void* self);
  static void on_upgrade_pipe(evutil_socket_t fd, short, void* self);

  // Metrics and health (arbiter_metrics.cpp).
  void start_metrics();
  bool taking_traffic() const;
  metrics::Reply answer(std::string_view method, std::string_view path);
  metrics::Snapshot snapshot() const;
  void push_statsd(const Counters& totals);
  void count_rate(const Counters& totals);

  // The control socket (arbiter_control.cpp).
  struct Waiter {
    control::ControlServer::Ticket ticket;
    bool json = false;
  };
  void start_control();
  void command(const control::Command& c, control::ControlServer::Ticket t);
  static void answer_waiters(std::vector<Waiter>& waiters, bool ok, const std::string& what);
  std::string status_text() const;
  std::string status_json() const;

  // Server hooks of a Python config file, at gunicorn's points (arbiter_hooks.cpp): `w` is
  // the worker in question (pid 0: not forked yet), status its wait status in child_exit.
  void hook(const char* name, pid_t pid = 0, const WorkerRecord* w = nullptr, int status = -1);
  // wanted_ = n, with nworkers_changed when it changes (first call: old value None).
  void set_wanted(int n);
  app::HookServer hook_server() const;

  // Lifecycle.
  void stop(bool graceful);
  void halt(int exit_code, const std::string& reason);
  void abort_reload(const std::string& reason);
  bool rebind(const config::Settings& next);
  bool reload_tls(const config::Settings& next);
  void finish_rebind();
  void undo_rebind();
  static const net::Listener* find_listener(const std::vector<net::Listener>& in,
                                            const std::string& url);
  void tick();
  void send_watchdog();
  void update_status(bool force);
  std::string status_line() const;
  void dispatch_signal(int sig);
  static void on_signal(evutil_socket_t sig, short, void* self);
  static void on_boot_pipe(evutil_socket_t fd, short, void* self);
  static void on_tick(evutil_socket_t, short, void* self);
  static void on_watchdog(evutil_socket_t, short, void* self);

  Invocation invocation_;
  config::Settings settings_;
  std::unique_ptr<config::Settings> previous_settings_;  // kept while a reload may fail
  std::vector<net::Listener> listeners_;
  std::vector<net::Listener> previous_listeners_;  // kept while a reload that rebinds may fail
  std::unique_ptr<app::App> preloaded_;
  std::unique_ptr<tls::TicketKeys> ticket_keys_;
  std::shared_ptr<tls::Context> tls_;           // this generation's; workers fork with it
  std::shared_ptr<tls::Context> previous_tls_;  // kept while a reload may fail
  bool tls_swapped_ = false;
  Scoreboard scoreboard_;
  systemd::Notifier notifier_;
  std::unique_ptr<Pidfile> pidfile_;
  std::map<pid_t, WorkerRecord> workers_;
  int wanted_ = 1;
  bool wanted_known_ = false;  // set_wanted ran: nworkers_changed has an old value
  pid_t master_pid_ = 0;       // set in run(): the server hooks' server.pid
  uint64_t generation_ = 1;
  uint64_t next_age_ = 0;
  uint64_t served_before_ = 0;        // requests served by workers already reaped
  uint64_t exits_[kExitCauses] = {};  // workers reaped, by cause
  uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
  uint64_t upgrades_ok_ = 0, upgrades_failed_ = 0;
  bool ready_ = false;      // the first generation booted, READY=1 sent
  bool reloading_ = false;  // a HUP generation is booting
  bool stopping_ = false;
  int64_t stop_deadline_ms_ = 0;
  int exit_code_ = 0;
  std::string last_status_;
  std::string last_reload_;
  std::unique_ptr<Pidfile> oldbin_;   // PIDFILE.oldbin while a new master takes over
  std::unique_ptr<Upgrade> upgrade_;  // the new master USR2 started, until it takes over
  event* upgrade_ev_ = nullptr;
  int64_t upgrade_deadline_ms_ = 0;
  bool upgrade_ready_ = false;
  bool handed_over_ = false;   // MAINPID and the sockets belong to the new master now
  UniqueFd takeover_pipe_;     // set in a new master until it reports ready
  pid_t old_master_ = 0;       // in a new master: the old one, while it lives
  UniqueFd old_master_pidfd_;  // readable when the old master exits
  std::optional<net::Listener> metrics_listener_;  // until run() serves it
  std::unique_ptr<metrics::HttpEndpoint> metrics_;
  std::unique_ptr<metrics::StatsdPusher> statsd_;
  std::string statsd_refused_;   // the statsd_host that last failed to open (not retried)
  bool statsd_started_ = false;  // a pusher ran: later ones start from the totals then
  uint64_t rate_base_ = 0;       // responses at the previous tick, for status's rate
  int64_t rate_base_ms_ = 0;
  double requests_per_s_ = 0;
  double start_time_ = 0;  // Unix time
  std::unique_ptr<control::ControlServer> control_;
  std::vector<Waiter> reload_waiters_;  // ctl reload: answered when the reload is decided
  std::vector<Waiter>
      upgrade_waiters_;  // ctl upgrade: answered when the new master serves or fails
  std::string last_reload_error_;
  std::string last_upgrade_error_;
  UniqueFd boot_read_;
  UniqueFd boot_write_;
  event_base* base_ = nullptr;
  std::vector<event*> events_;
};

}  // namespace cppicorn
