// StatsD push (gunicorn's statsd_host, statsd_prefix, dogstatsd_tags) with gunicorn's metric
// names, so dashboards built for gunicorn carry over. gunicorn sends three UDP packets per
// request from every worker; here the master sends what changed once a second, computed from
// the scoreboard totals it already folds, so a request costs no syscall for it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scoreboard/scoreboard.h"
#include "util/unique_fd.h"

namespace cppicorn::metrics {

// The statsd lines for one interval: counters as deltas (a zero delta is not sent, as
// gunicorn sends nothing while idle), the interval's mean duration as one timer sample
// weighted by the request count (|@1/N), and the worker gauge.
std::vector<std::string> statsd_lines(const Counters& now, const Counters& before, int workers,
                                      const std::string& prefix, const std::string& tags);

// The connected datagram socket and the last counts sent. Made by the master; the socket is
// non-blocking, so a missing or slow receiver never stalls the master (lost lines are lost,
// as with gunicorn's UDP).
class StatsdPusher {
 public:
  // host is check_statsd_host's form (HOST:PORT, [V6]:PORT or unix:PATH). Resolves the name
  // now; null with *error when it does not resolve or no socket can be made.
  static std::unique_ptr<StatsdPusher> open(const std::string& host, std::string prefix,
                                            std::string tags, std::string* error);

  // The settings it was made with, so a reload that changes them makes a new one.
  bool same(const std::string& host, const std::string& prefix, const std::string& tags) const {
    return host == host_ && prefix == prefix_ && tags == tags_;
  }
  // Sends the interval since the last push (totals plus the master's own log lines); the
  // first push sends everything counted since the master started.
  void push(Counters totals, int workers);
  // Makes counts up to these totals as sent: a pusher that replaces another (a reload
  // changed the settings) must not resend what the old one sent.
  void start_from(Counters totals);

 private:
  StatsdPusher(UniqueFd fd, std::string host, std::string prefix, std::string tags);
  void send(const std::vector<std::string>& lines);

  UniqueFd fd_;
  std::string host_, prefix_, tags_;
  Counters before_;
  bool warned_ = false;  // one warning per pusher about a failing send
};

}  // namespace cppicorn::metrics
