// The USR2 upgrade as the arbiter lives it.
//
// Old master: USR2 starts a new master (Upgrade::start) and writes PIDFILE.oldbin. When the
// new master reports ready, the old one hands over (MAINPID=new for systemd), stops
// accepting and drains its workers; with upgrade_manual it waits for WINCH/TERM instead, and
// HUP brings its workers back. If the new master exits or is not ready in upgrade_timeout,
// the old master keeps serving and says why.
// New master: it serves alongside the old one, reports ready on the pipe, writes the
// pidfile, and drops "(new)" from its title once the old master is gone.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arbiter/arbiter.h"
#include "util/proctitle.h"

namespace cppicorn {

void Arbiter::set_title() {
  const char* role = upgrade_ ? "master (old)" : old_master_ != 0 ? "master (new)" : "master";
  std::string name = settings_.proc_name.empty() ? settings_.app : settings_.proc_name;
  proctitle::set(fmt::format("cppicorn: {} [{}]", role, name));
}

void Arbiter::handle_usr2() {
  if (stopping_) {
    last_upgrade_error_ = "the server is stopping";
    return;
  }
  if (upgrade_) {
    last_upgrade_error_ = fmt::format("an upgrade to pid {} is already under way", upgrade_->pid());
    spdlog::warn("Refusing USR2: {}", last_upgrade_error_);
    return;
  }
  if (old_master_ != 0) {
    last_upgrade_error_ =
        fmt::format("the previous master (pid {}) has not exited yet", old_master_);
    spdlog::warn("Refusing USR2: {}", last_upgrade_error_);
    return;
  }
  std::string error;
  // The new master gets copies of our sockets, the metrics one under its own name.
  std::vector<net::Listener> handed;
  for (const net::Listener& l : listeners_) {
    handed.push_back(
        {UniqueFd(fcntl(l.fd.get(), F_DUPFD_CLOEXEC, 0)), l.name, l.url, "", l.is_unix});
  }
  if (metrics_ && metrics_->listener().fd) {
    const net::Listener& m = metrics_->listener();
    handed.push_back(
        {UniqueFd(fcntl(m.fd.get(), F_DUPFD_CLOEXEC, 0)), kMetricsFdName, m.url, "", m.is_unix});
  }
  upgrade_ = Upgrade::start(invocation_, handed, &error, [this] { hook("pre_exec"); });
  if (!upgrade_) {
    spdlog::error("Upgrade failed: {}", error);
    last_upgrade_error_ = error;
    ++upgrades_failed_;
    return;
  }
  spdlog::info("Upgrading: started new master {} (pid {})", invocation_.exe_path, upgrade_->pid());
  upgrade_ready_ = false;
  upgrade_deadline_ms_ =
      settings_.upgrade_timeout > 0
          ? monotonic_ms() + static_cast<int64_t>(settings_.upgrade_timeout * 1000)
          : 0;
  if (!settings_.pidfile.empty() && Pidfile::create(settings_.pidfile + ".oldbin", &error)) {
    oldbin_ = std::make_unique<Pidfile>(settings_.pidfile + ".oldbin");
  }
  upgrade_ev_ = event_new(base_, upgrade_->ready_fd(), EV_READ | EV_PERSIST, on_upgrade_pipe, this);
  event_add(upgrade_ev_, nullptr);
  set_title();
  notifier_.status(status_line() + fmt::format("; upgrading to pid {}", upgrade_->pid()));
}

void Arbiter::on_upgrade_pipe(evutil_socket_t fd, short, void* self) {
  auto* a = static_cast<Arbiter*>(self);
  char byte;
  ssize_t n = read(fd, &byte, 1);
  if (n == 1) {
    a->upgrade_ready();
  } else if (n == 0) {
    // EOF without "ready": the new master is gone; reaping it says how (upgrade_failed).
    event_del(a->upgrade_ev_);
  }
}

void Arbiter::upgrade_ready() {
  event_del(upgrade_ev_);
  upgrade_ready_ = true;
  ++upgrades_ok_;
  spdlog::info("New master (pid {}) is serving", upgrade_->pid());
  answer_waiters(upgrade_waiters_, true,
                 fmt::format("upgraded: new master (pid {}) serving", upgrade_->pid()));
  if (settings_.upgrade_manual) {
    spdlog::info(
        "Manual upgrade: send WINCH to stop these workers, then TERM to this master; "
        "or HUP this master and TERM pid {} to roll back",
        upgrade_->pid());
    return;
  }
  stop(true);  // hands over, then drains
}

// The new master becomes the service: systemd learns its pid before we go.
void Arbiter::hand_over() {
  handed_over_ = true;
  if (metrics_) metrics_->stop_listening();  // the new master answers health checks now
  notifier_.main_pid(upgrade_->pid());
  spdlog::info("Handing over to the new master (pid {}); old master draining", upgrade_->pid());
}

void Arbiter::upgrade_failed(const std::string& reason) {
  pid_t pid = upgrade_->pid();
  if (handed_over_) {
    spdlog::error("New master (pid {}) is gone after taking over: {}", pid, reason);
  } else {
    spdlog::error("Upgrade failed: {}; the old master keeps serving", reason);
    if (!upgrade_ready_) ++upgrades_failed_;  // a ready one was counted as done
  }
  answer_waiters(upgrade_waiters_, false,
                 "upgrade failed: " + reason + "; the old master keeps serving");
  if (upgrade_ev_) {
    event_free(upgrade_ev_);
    upgrade_ev_ = nullptr;
  }
  upgrade_.reset();
  upgrade_ready_ = false;
  oldbin_.reset();
  if (!settings_.pidfile.empty() && !handed_over_) {
    std::string error;
    if (!Pidfile::create(settings_.pidfile, &error)) spdlog::error("{}", error);
  }
  set_title();
  update_status(true);
}

void Arbiter::check_upgrade_timeout() {
  if (!upgrade_ || upgrade_ready_ || upgrade_deadline_ms_ == 0) return;
  if (monotonic_ms() < upgrade_deadline_ms_) return;
  spdlog::error("New master (pid {}) not ready within upgrade_timeout ({}s); stopping it",
                upgrade_->pid(), settings_.upgrade_timeout);
  upgrade_deadline_ms_ = 0;
  kill(upgrade_->pid(), SIGQUIT);  // reaping it reports the failure
}

// In a new master: watch the old master (our parent) so that its exit is seen at once.
void Arbiter::watch_old_master() {
  old_master_ = getppid();
  // glibc 2.36's <sys/pidfd.h> lacks extern "C", so call the system call itself.
  old_master_pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, old_master_, 0)));
  if (!old_master_pidfd_) return;  // the tick notices instead
}

void Arbiter::on_old_master_exit(evutil_socket_t, short, void* self) {
  static_cast<Arbiter*>(self)->old_master_gone();
}

// The old master is gone and we are the service's only master. (Under systemd 252 we stay
// "a process which is not our child" for systemd, which cannot wait() for us: the unit's
// ExecStop= therefore stops us by pid and waits, and our workers die with us, so an
// unexpected exit still empties the cgroup where systemd sees it.)
void Arbiter::old_master_gone() {
  if (old_master_ == 0) return;
  spdlog::info("Old master (pid {}) has exited; this master serves alone", old_master_);
  old_master_ = 0;
  old_master_pidfd_.reset();
  set_title();
  notifier_.ready(status_line());
}

// In a new master: the first generation serves.
void Arbiter::new_master_ready() {
  // The pidfile first: the old master leaves as soon as it hears we serve, and whoever
  // waited for that (a script, systemd's PIDFile=) must find our pid there.
  if (!settings_.pidfile.empty()) {
    std::string error;
    if (Pidfile::create(settings_.pidfile, &error)) {
      pidfile_ = std::make_unique<Pidfile>(settings_.pidfile);
    } else {
      spdlog::error("{}", error);
    }
  }
  Upgrade::report_ready(takeover_pipe_);
  start_control();  // the old master's socket path becomes ours now that we serve
  // Our READY=1 counts once the old master has passed MAINPID to us; until then systemd
  // ignores it, and the tick repeats it when the old master is gone.
  notifier_.ready(status_line());
}

}  // namespace cppicorn
