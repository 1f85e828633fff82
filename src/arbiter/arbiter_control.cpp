// The arbiter's control socket: status from the scoreboard, and commands that wait for their
// outcome (a reload until the new generation serves or is refused, an upgrade until the new
// master serves or fails), so `cppicorn ctl reload` can fail honestly under ExecReload=.
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "arbiter/arbiter.h"
#include "metrics/exposition.h"
#include "version/version.h"

namespace cppicorn {
namespace {

// RSS of a process in bytes (0 if gone), from /proc/PID/statm.
uint64_t rss_of(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/statm", pid));
  uint64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// The socket's path: the setting, else $RUNTIME_DIRECTORY/ctl when systemd runs us, else none.
std::string control_path(const std::string& setting) {
  if (setting == "none") return "";
  if (!setting.empty()) return setting;
  const char* dir = std::getenv("RUNTIME_DIRECTORY");
  if (dir == nullptr || *dir == '\0') return "";
  std::string first(dir);
  return first.substr(0, first.find(':')) + "/ctl";
}

}  // namespace

void Arbiter::start_control() {
  std::string path = control_path(settings_.control_socket);
  if (path.empty()) return;
  control::Access access;
  access.act.push_back(geteuid());
  if (!settings_.user.empty()) {  // the user the workers run as (name or number)
    char* end = nullptr;
    long uid = std::strtol(settings_.user.c_str(), &end, 10);
    if (passwd* pw = getpwnam(settings_.user.c_str())) {
      access.act.push_back(pw->pw_uid);
    } else if (*end == '\0') {
      access.act.push_back(static_cast<uid_t>(uid));
    }
  }
  if (!settings_.control_group.empty()) {
    if (group* gr = getgrnam(settings_.control_group.c_str())) {
      access.read_gid = gr->gr_gid;
    } else {
      char* end = nullptr;
      long gid = std::strtol(settings_.control_group.c_str(), &end, 10);
      if (*end != '\0') {
        spdlog::error("control_group: no group '{}'; the control socket is not opened",
                      settings_.control_group);
        return;
      }
      access.read_gid = static_cast<gid_t>(gid);
    }
  }
  std::string error;
  control_ = control::ControlServer::open(
      base_, path, std::move(access),
      [this](const control::Command& c, control::ControlServer::Ticket t) { command(c, t); },
      &error);
  if (!control_) {
    spdlog::error("{}; serving without a control socket", error);
    return;
  }
  spdlog::info("Control socket at: {}", path);
}

void Arbiter::command(const control::Command& c, control::ControlServer::Ticket t) {
  using control::Verb;
  switch (c.verb) {
    case Verb::kStatus:
      return t.reply(true, c.json ? status_json() : status_text());
    case Verb::kWorkers: {
      if (stopping_) return t.reply(false, "stopping\n");
      int target = std::clamp(wanted_ + c.delta, 1, Scoreboard::kMaxWorkers);
      set_wanted(target);
      manage_workers();
      return t.reply(true, c.json ? fmt::format("{{\"workers_desired\":{}}}\n", wanted_)
                                  : fmt::format("workers: {} wanted\n", wanted_));
    }
    case Verb::kReload: {
      if (stopping_) return t.reply(false, "stopping: no reload\n");
      const uint64_t failed = reloads_failed_;
      handle_hup();
      if (reloads_failed_ != failed)
        return t.reply(false, "reload refused: " + last_reload_error_ + "\n");
      reload_waiters_.push_back({t, c.json});
      return;
    }
    case Verb::kUpgrade: {
      last_upgrade_error_.clear();
      handle_usr2();
      if (!upgrade_ || !last_upgrade_error_.empty())
        return t.reply(false, "upgrade refused: " + last_upgrade_error_ + "\n");
      upgrade_waiters_.push_back({t, c.json});
      return;
    }
    case Verb::kStop:
      t.reply(true, c.json ? "{\"stopping\":true}\n" : "stopping\n");
      return stop(true);
  }
}

// Tells everyone waiting for a reload or an upgrade how it went.
void Arbiter::answer_waiters(std::vector<Waiter>& waiters, bool ok, const std::string& what) {
  for (const Waiter& w : waiters) {
    w.ticket.reply(ok, w.json ? fmt::format("{{\"ok\":{},\"message\":{}}}\n", ok ? "true" : "false",
                                            control::json_string(what))
                              : what + "\n");
  }
  waiters.clear();
}

std::string Arbiter::status_text() const {
  int64_t now = monotonic_ms();
  std::string out = fmt::format("master {} (cppicorn {}), generation {}, {} workers wanted, {}\n",
                                getpid(), version(), generation_, wanted_,
                                taking_traffic() ? "ready"
                                : stopping_      ? "draining"
                                                 : "not ready");
  if (!last_reload_.empty()) out += last_reload_ + "\n";
  Counters totals = scoreboard_.totals();
  out += fmt::format("requests: {} served, {:.0f}/s (2xx {}, 3xx {}, 4xx {}, 5xx {})\n",
                     totals.responses(), requests_per_s_, totals.responses(2), totals.responses(3),
                     totals.responses(4), totals.responses(5));
  out += fmt::format("{:>8} {:>4} {:>8} {:>9} {:>10} {:>9}  {}\n", "PID", "GEN", "AGE", "STATE",
                     "REQUESTS", "RSS", "CURRENT REQUEST");
  for (const auto& [pid, w] : workers_) {
    const ScoreboardSlot& s = scoreboard_[w.slot];
    int64_t started = s.request_started_ms.load();
    std::string current =
        started != 0 ? fmt::format("{} ({:.1f}s)", s.request, (now - started) / 1000.0) : "-";
    out += fmt::format("{:>8} {:>4} {:>7}s {:>9} {:>10} {:>8}K  {}\n", pid, w.generation,
                       (now - s.started_ms.load()) / 1000,
                       metrics::worker_view_name(metrics::view_of(s)), s.requests.load(),
                       rss_of(pid) / 1024, current);
  }
  return out;
}

std::string Arbiter::status_json() const {
  int64_t now = monotonic_ms();
  std::string out = fmt::format(
      "{{\"master\":{{\"pid\":{},\"version\":{},\"generation\":{},\"workers_desired\":{},"
      "\"ready\":{},\"draining\":{},\"last_reload\":{},\"requests\":{},"
      "\"requests_per_second\":{:.1f}}},\"workers\":[",
      getpid(), control::json_string(version()), generation_, wanted_,
      taking_traffic() ? "true" : "false", stopping_ ? "true" : "false",
      control::json_string(last_reload_), scoreboard_.totals().responses(), requests_per_s_);
  bool first = true;
  for (const auto& [pid, w] : workers_) {
    const ScoreboardSlot& s = scoreboard_[w.slot];
    int64_t started = s.request_started_ms.load();
    out += fmt::format(
        "{}{{\"pid\":{},\"slot\":{},\"generation\":{},\"age_seconds\":{:.3f},\"state\":\"{}\","
        "\"requests\":{},\"rss_bytes\":{},\"request\":{},\"request_seconds\":{}}}",
        first ? "" : ",", pid, w.slot, w.generation, (now - s.started_ms.load()) / 1000.0,
        metrics::worker_view_name(metrics::view_of(s)), s.requests.load(), rss_of(pid),
        started != 0 ? control::json_string(s.request) : "null",
        started != 0 ? fmt::format("{:.3f}", (now - started) / 1000.0) : "null");
    first = false;
  }
  return out + "]}\n";
}

}  // namespace cppicorn
