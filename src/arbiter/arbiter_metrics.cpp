// The arbiter's metrics listener: /metrics, /health/ready and /health/live, answered from the
// master's loop out of the scoreboard and the master's own counts.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "arbiter/arbiter.h"
#include "metrics/exposition.h"
#include "version/version.h"

namespace cppicorn {

void Arbiter::start_metrics() {
  if (!metrics_listener_) return;
  spdlog::info("Metrics at: {}", metrics_listener_->url);
  metrics_ = std::make_unique<metrics::HttpEndpoint>(
      base_, std::move(*metrics_listener_),
      [this](std::string_view method, std::string_view path) { return answer(method, path); });
  metrics_listener_.reset();
}

// Taking traffic: the first generation serves and nothing drains (TERM, INT, QUIT, a new
// master taking over, or WINCH having stopped the workers).
bool Arbiter::taking_traffic() const {
  return ready_ && !stopping_ && !handed_over_ && wanted_ > 0;
}

metrics::Reply Arbiter::answer(std::string_view method, std::string_view path) {
  if (method != "GET" && method != "HEAD") return {405, "text/plain; charset=utf-8", "GET only\n"};
  if (path == "/metrics") {
    return {200, metrics::kContentType, metrics::render(snapshot())};
  }
  if (path == "/health/ready") {
    if (taking_traffic()) return {200, "text/plain; charset=utf-8", "ready\n"};
    return {503, "text/plain; charset=utf-8",
            stopping_ || handed_over_ ? "draining\n" : "not ready\n"};
  }
  if (path == "/health/live") return {200, "text/plain; charset=utf-8", "live\n"};
  return {404, "text/plain; charset=utf-8",
          "not found: try /metrics, /health/ready, /health/live\n"};
}

// Once a second from tick(), and once more as the master exits. The settings are re-read
// each time, so a reload that changes them takes effect (and a refused reload puts them back).
void Arbiter::push_statsd(const Counters& totals) {
  const config::Settings& s = settings_;
  if (s.statsd_host.empty()) {
    statsd_.reset();
    return;
  }
  if (!statsd_ || !statsd_->same(s.statsd_host, s.statsd_prefix, s.dogstatsd_tags)) {
    std::string key = s.statsd_host + '\n' + s.statsd_prefix + '\n' + s.dogstatsd_tags;
    if (key == statsd_refused_) return;
    std::string error;
    statsd_ = metrics::StatsdPusher::open(s.statsd_host, s.statsd_prefix, s.dogstatsd_tags, &error);
    if (!statsd_) {
      spdlog::error("{}; not sending StatsD metrics", error);
      statsd_refused_ = key;
      return;
    }
    statsd_refused_.clear();
    if (statsd_started_) statsd_->start_from(totals);  // only the first pusher sends the past
    statsd_started_ = true;
  }
  statsd_->push(totals, static_cast<int>(workers_.size()));
}

// Responses per second over the last tick, for `cppicorn ctl status` and `top`.
void Arbiter::count_rate(const Counters& totals) {
  int64_t now = monotonic_ms();
  uint64_t n = totals.responses();
  if (rate_base_ms_ != 0 && now > rate_base_ms_) {
    requests_per_s_ =
        static_cast<double>(n - rate_base_) * 1000.0 / static_cast<double>(now - rate_base_ms_);
  }
  rate_base_ = n;
  rate_base_ms_ = now;
}

metrics::Snapshot Arbiter::snapshot() const {
  metrics::Snapshot s;
  s.counters = scoreboard_.totals();
  metrics::gather(scoreboard_, &s);
  s.workers_desired = wanted_;
  s.generation = generation_;
  for (int i = 0; i < kExitCauses; ++i) s.exits[i] = exits_[i];
  s.reloads_ok = reloads_ok_;
  s.reloads_failed = reloads_failed_;
  s.upgrades_ok = upgrades_ok_;
  s.upgrades_failed = upgrades_failed_;
  s.start_time = start_time_;
  s.ready = taking_traffic();
  s.version = version();
  // For a listening TCP socket the kernel reports its accept queue in tcpi_unacked and the
  // queue's limit in tcpi_sacked (as gunicorn's backlog metric and uWSGI read them).
  for (const net::Listener& l : listeners_) {
    if (l.is_unix) continue;
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(l.fd.get(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) continue;
    s.queues.push_back({l.url, info.tcpi_unacked, info.tcpi_sacked});
  }
  return s;
}

}  // namespace cppicorn
