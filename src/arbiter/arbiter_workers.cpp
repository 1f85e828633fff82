// The arbiter's worker pool: spawning, reaping, boot tracking, generations and timeouts.
#include <event2/event.h>
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "app/pyconf.h"
#include "arbiter/arbiter.h"
#include "log/log.h"
#include "util/proctitle.h"
#include "worker/fork_guard.h"
#include "worker/worker.h"

namespace cppicorn {

void Arbiter::spawn_worker() {
  int slot = scoreboard_.claim();
  if (slot < 0) {
    spdlog::error("No free scoreboard slot; not spawning");
    return;
  }
  WorkerRecord record;
  record.slot = slot;
  record.generation = generation_;
  record.age = next_age_;
  hook("pre_fork", 0, &record);
  log::flush();
  // Block signals across fork so none reaches the child before it drops our handlers (their
  // wake-up socket is shared with us).
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  const pid_t master = getpid();
  app::pyconf::before_fork();
  pid_t pid = fork();
  if (pid == 0) {
    app::pyconf::after_fork_child();
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    // A worker never outlives its master: orphans would keep serving outside any control.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master) _exit(0);
    sigset_t until_loop = old;  // the worker unblocks these once it handles them
    for (int sig : worker::kLoopSignals) sigaddset(&until_loop, sig);
    sigprocmask(SIG_SETMASK, &until_loop, nullptr);
    // The master's base shares its epoll instance with us: reinit gives the child its own
    // (so freeing it cannot touch the master's registrations), then it goes.
    event_reinit(base_);
    for (event* e : events_) event_free(e);
    events_.clear();
    metrics_.reset();  // its sockets are the master's
    statsd_.reset();
    control_.reset();
    event_base_free(base_);
    base_ = nullptr;
    boot_read_.reset();
    // The master's side of a USR2 hand-over: a worker (or a child of its app) holding the
    // new master's ready pipe would hide that master's death from the old one.
    takeover_pipe_.reset();
    old_master_pidfd_.reset();
    upgrade_.reset();
    // Sockets a reload dropped: a worker holding a copy would keep them accepting.
    previous_listeners_.clear();
    systemd::Notifier::forget_in_child();
    scoreboard_[slot].pid = getpid();
    static_assert(kLogKinds == log::kCountedLevels);
    log::count_into(scoreboard_[slot].logs);  // the master reads them for statsd
    worker::ForkGuard::arm(scoreboard_.memory(), Scoreboard::kBytes);
    std::string name = settings_.proc_name.empty() ? settings_.app : settings_.proc_name;
    proctitle::set(fmt::format("cppicorn: worker [{}]", name));
    hook("post_fork", getpid(), &record);
    std::vector<int> fds;
    std::vector<int> tls_fds;
    for (const net::Listener& l : listeners_) {
      fds.push_back(l.fd.get());
      if (l.tls) tls_fds.push_back(l.fd.get());
    }
    int code;
    {
      worker::Worker w(settings_, fds, scoreboard_[slot], std::move(preloaded_), boot_write_.get());
      if (tls_) w.use_tls(tls_->get(), std::move(tls_fds));
      w.set_age(record.age);
      code = w.run();
    }
    log::flush();
    _exit(code);  // not exit(): the master's atexit handlers and destructors are not ours
  }
  app::pyconf::after_fork_parent();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    spdlog::error("fork: {}", strerror(errno));
    scoreboard_.release(slot);
    return;
  }
  scoreboard_[slot].pid = pid;
  ++next_age_;
  workers_[pid] = record;
  spdlog::info("Booting worker with pid: {}", pid);
}

// Brings the current generation to the wanted size, and retires older generations once the
// current one is fully serving (a reload never leaves a moment with nobody accepting).
void Arbiter::manage_workers() {
  if (stopping_) return;
  int live = 0, booted = 0;
  for (const auto& [pid, w] : workers_) {
    if (w.generation == generation_ && !w.retiring) {
      ++live;
      if (w.booted) ++booted;
    }
  }
  for (; live < wanted_; ++live) spawn_worker();
  while (live > wanted_) {
    auto oldest = workers_.end();
    for (auto it = workers_.begin(); it != workers_.end(); ++it) {
      if (it->second.generation == generation_ && !it->second.retiring &&
          (oldest == workers_.end() || it->second.age < oldest->second.age)) {
        oldest = it;
      }
    }
    retire(oldest->first, oldest->second, ExitCause::kStop);
    --live;
  }
  if (booted < wanted_) return;
  for (auto& [pid, w] : workers_) {
    if (w.generation < generation_ && !w.retiring) retire(pid, w, ExitCause::kReload);
  }
  if (!ready_) {
    ready_ = true;
    if (takeover_pipe_) {
      new_master_ready();
    } else {
      notifier_.ready(status_line());
    }
  } else if (reloading_) {
    reloading_ = false;
    previous_settings_.reset();
    previous_tls_.reset();
    tls_swapped_ = false;
    finish_rebind();
    last_reload_ = fmt::format("last reload: generation {} with {} workers", generation_, wanted_);
    ++reloads_ok_;
    spdlog::info("Reloaded: {} new workers serving", wanted_);
    answer_waiters(
        reload_waiters_, true,
        fmt::format("reloaded: generation {} with {} workers serving", generation_, wanted_));
    notifier_.ready(status_line());
  }
  update_status(false);
}

void Arbiter::retire(pid_t pid, WorkerRecord& w, ExitCause why) {
  w.retiring = true;
  w.retire_cause = why;
  w.kill_at_ms = monotonic_ms() + static_cast<int64_t>(settings_.graceful_timeout * 1000);
  // A successor takes over: its WebSockets close with 1012 (service restart), not 1001.
  if (why == ExitCause::kReload) scoreboard_[w.slot].restarting = true;
  kill(pid, SIGTERM);
}

void Arbiter::check_booted() {
  bool changed = false;
  for (auto& [pid, w] : workers_) {
    if (!w.booted && scoreboard_[w.slot].state.load() != WorkerState::kBooting) {
      w.booted = true;
      changed = true;
    }
  }
  if (changed) manage_workers();
}

// --reload: a worker of the serving generation saw the app's files change (worker/reloader.h).
// One new generation, as HUP starts, however many workers saw it; a request from a generation
// already being replaced is dropped (its workers retire anyway).
void Arbiter::check_reload_requests() {
  bool requested = false;
  for (auto& [pid, w] : workers_) {
    if (!scoreboard_[w.slot].reload_requested.exchange(false)) continue;
    requested = requested || (w.generation == generation_ && w.booted && !w.retiring);
  }
  if (!requested || reloading_) return;
  spdlog::info("Reloading: the application's files changed (--reload){}",
               settings_.preload ? "; with --preload the new workers fork from the master's "
                                   "copy of the app, which still has the old code"
                                 : "");
  handle_hup();
}

void Arbiter::reap_workers() {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (upgrade_ && pid == upgrade_->pid()) {
      upgrade_failed(WIFEXITED(status)
                         ? fmt::format("new master exited with code {}", WEXITSTATUS(status))
                         : fmt::format("new master was killed by signal {}", WTERMSIG(status)));
      continue;
    }
    auto it = workers_.find(pid);
    if (it == workers_.end()) continue;
    WorkerRecord w = it->second;
    workers_.erase(it);
    worker_exited(pid, w, status);
  }
  if (stopping_) {
    if (workers_.empty()) event_base_loopbreak(base_);
    return;
  }
  manage_workers();
}

void Arbiter::worker_exited(pid_t pid, const WorkerRecord& w, int status) {
  ScoreboardSlot& slot = scoreboard_[w.slot];
  served_before_ += slot.requests.load();
  ++exits_[static_cast<int>(exit_cause(w, status, slot.max_requests_reached.load()))];
  scoreboard_.release(w.slot);
  hook("child_exit", pid, &w, status);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    // Signals we sent (stop, retire, timeout) are expected; anything else is news.
    bool ours = (w.retiring || w.aborted || stopping_) &&
                (sig == SIGTERM || sig == SIGKILL || sig == SIGQUIT || sig == SIGABRT);
    if (sig == SIGKILL && !ours) {
      spdlog::error("Worker (pid:{}) was sent SIGKILL! Perhaps out of memory?", pid);
    } else if (!ours) {
      spdlog::error(
          "Worker (pid:{}) was sent {}!", pid,
          sigabbrev_np(sig) ? fmt::format("SIG{}", sigabbrev_np(sig)) : std::to_string(sig));
    }
    return;
  }
  int code = WEXITSTATUS(status);
  if (code == worker::kExitBootError || code == worker::kExitAppLoadError) {
    std::string reason =
        code == worker::kExitBootError ? "Worker failed to boot." : "App failed to load.";
    if (w.retiring || stopping_) return;  // told to stop already (an aborted reload's rest)
    if (reloading_ && w.generation == generation_) {
      abort_reload(reason);
    } else {
      halt(code, reason);
    }
    return;
  }
  if (code != 0) spdlog::error("Worker (pid:{}) exited with code {}", pid, code);
}

// Why a worker left, for cppicorn_worker_exits_total: what we asked of it, else what it did.
ExitCause Arbiter::exit_cause(const WorkerRecord& w, int status, bool recycled) {
  const bool code_exit = WIFEXITED(status);
  const int code = code_exit ? WEXITSTATUS(status) : 0;
  if (code_exit && (code == worker::kExitBootError || code == worker::kExitAppLoadError))
    return ExitCause::kBootError;
  if (w.aborted) return ExitCause::kTimeout;
  if (w.retiring) return w.retire_cause;
  if (code_exit && code == 0 && recycled) return ExitCause::kMaxRequests;
  return ExitCause::kCrash;
}

// A reload whose workers cannot boot is undone: the old generation keeps serving.
void Arbiter::abort_reload(const std::string& reason) {
  spdlog::error("Reload failed ({}); keeping the previous workers and configuration", reason);
  for (auto& [pid, w] : workers_) {
    if (w.generation == generation_ && !w.retiring) retire(pid, w, ExitCause::kReload);
  }
  ++reloads_failed_;
  if (previous_settings_) settings_ = *previous_settings_;
  previous_settings_.reset();
  undo_rebind();
  if (tls_swapped_) {  // the previous generation's certificate serves again
    tls_ = std::move(previous_tls_);
    tls_swapped_ = false;
    net::resolve_tls(listeners_, !settings_.certfile.empty(), settings_.proxy_protocol != "off");
  }
  // The previous generation serves on as the current one, under a fresh number, so no
  // straggler of the aborted generation can ever be taken for it.
  const uint64_t aborted = generation_++;
  for (auto& [pid, w] : workers_) {
    if (!w.retiring && w.generation < aborted) w.generation = generation_;
  }
  set_wanted(settings_.workers);
  reloading_ = false;
  last_reload_ = "last reload failed: " + reason;
  answer_waiters(reload_waiters_, false,
                 "reload failed: " + reason + "; the previous workers keep serving");
  notifier_.ready(status_line());
}

// Kills workers whose heartbeat is older than `timeout` (stuck in an app call or a wedged
// loop) or whose oldest app call began longer ago than that (gthread: the loop beats on while
// a thread is stuck), then SIGKILLs whatever ignored an earlier signal past its deadline.
void Arbiter::murder_workers() {
  int64_t now = monotonic_ms();
  int64_t limit = static_cast<int64_t>(settings_.timeout * 1000);
  for (auto& [pid, w] : workers_) {
    ScoreboardSlot& slot = scoreboard_[w.slot];
    if (w.kill_at_ms != 0 && now >= w.kill_at_ms) {
      if (!w.aborted) spdlog::warn("Worker (pid:{}) did not stop in time; killing", pid);
      kill(pid, SIGKILL);
      w.kill_at_ms = now + 1000;
      continue;
    }
    if (limit <= 0 || w.aborted || w.retiring) continue;
    int64_t started = slot.request_started_ms.load();
    if (now - slot.heartbeat_ms.load() <= limit && (started == 0 || now - started <= limit)) {
      continue;
    }
    if (started != 0) {
      spdlog::critical("WORKER TIMEOUT (pid:{}) serving \"{}\" for {:.1f}s", pid, slot.request,
                       static_cast<double>(now - started) / 1000);
    } else {
      spdlog::critical("WORKER TIMEOUT (pid:{})", pid);
    }
    kill(pid, SIGABRT);
    w.aborted = true;
    w.kill_at_ms = now + 1000;
  }
}

// Each serving worker learns the mean of their open connections (see Worker::over_share):
// sync workers accept whoever comes first, so keep-alive clients can pile up on one of them
// while a sibling idles, and only a reconnect through the shared listen queue moves them.
void Arbiter::publish_fair_share() {
  int64_t open = 0;
  int serving = 0;
  for (const auto& [pid, w] : workers_) {
    if (!w.booted || w.retiring) continue;
    const ScoreboardSlot& slot = scoreboard_[w.slot];
    for (const auto& c : slot.conns) open += c.load(std::memory_order_relaxed);
    ++serving;
  }
  if (serving == 0) return;
  auto share = static_cast<int32_t>((open + serving - 1) / serving);
  for (const auto& [pid, w] : workers_) {
    if (w.booted && !w.retiring) scoreboard_[w.slot].fair_share = share;
  }
}

void Arbiter::kill_all(int sig) {
  for (auto& [pid, w] : workers_) {
    if (sig == SIGTERM && !w.retiring) {
      w.retiring = true;
      w.retire_cause = ExitCause::kStop;
    }
    if (sig == SIGTERM && handed_over_) scoreboard_[w.slot].restarting = true;  // USR2
    kill(pid, sig);
  }
}

bool Arbiter::pool_healthy() const {
  // Fresh: a heartbeat within the watchdog timeout (twice the ping interval), and never less
  // than 2 s, since idle workers beat once a second.
  auto interval = notifier_.watchdog_interval();
  int64_t fresh_ms = std::max<int64_t>(interval ? interval->count() * 2 / 1000 : 0, 2000);
  int64_t now = monotonic_ms();
  for (const auto& [pid, w] : workers_) {
    if (!w.booted || w.retiring) continue;
    auto& slot = const_cast<Scoreboard&>(scoreboard_)[w.slot];
    if (now - slot.heartbeat_ms.load() <= fresh_ms) return true;
  }
  return false;
}

}  // namespace cppicorn
