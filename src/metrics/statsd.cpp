// StatsD lines from scoreboard deltas, in gunicorn's names and formats
// (gunicorn/instrument/statsd.py: "NAME:VALUE|c|@1.0", "NAME:VALUE|ms", "NAME:VALUE|g", and
// "|#TAGS" appended for DogStatsD), and the datagram socket that sends them.
#include "metrics/statsd.h"

#include <fmt/format.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"

namespace cppicorn::metrics {
namespace {

// Lines are packed into datagrams up to this size, which fits an Ethernet MTU with room for
// IP and UDP headers (statsd, DogStatsD, Telegraf and statsd_exporter read several lines per
// datagram, separated by newlines).
constexpr size_t kDatagram = 1432;

const char* const kLogNames[kLogKinds] = {"critical", "error", "warning", "exception"};

}  // namespace

std::vector<std::string> statsd_lines(const Counters& now, const Counters& before, int workers,
                                      const std::string& prefix, const std::string& tags) {
  std::vector<std::string> lines;
  const std::string suffix = tags.empty() ? std::string() : "|#" + tags;
  auto counter = [&](std::string_view name, uint64_t delta) {
    if (delta > 0) lines.push_back(fmt::format("{}{}:{}|c|@1.0{}", prefix, name, delta, suffix));
  };
  counter("gunicorn.requests", now.responses() - before.responses());
  for (int i = 0; i < kStatusCells; ++i) {
    // A code outside kExactStatuses is only known by its class: "gunicorn.request.status.5xx".
    std::string code =
        cell_status(i) != 0 ? std::to_string(cell_status(i)) : fmt::format("{}xx", cell_class(i));
    counter("gunicorn.request.status." + code, now.statuses[i] - before.statuses[i]);
  }
  // gunicorn sends one timer per request; this sends the interval's mean once, at sample rate
  // 1/N, so the receiver counts N requests (statsd's count, DogStatsD's and statsd_exporter's
  // sums too) while its percentiles are over per-second means, not over requests.
  uint64_t n = 0;
  for (int i = 0; i < kDurationBuckets; ++i) n += now.duration[i] - before.duration[i];
  if (n > 0) {
    double mean_ms =
        static_cast<double>(now.duration_us - before.duration_us) / static_cast<double>(n) / 1e3;
    std::string rate = n > 1 ? fmt::format("|@{:.6g}", 1.0 / static_cast<double>(n)) : "";
    lines.push_back(
        fmt::format("{}gunicorn.request.duration:{:.3f}|ms{}{}", prefix, mean_ms, rate, suffix));
  }
  lines.push_back(fmt::format("{}gunicorn.workers:{}|g{}", prefix, workers, suffix));
  for (int i = 0; i < kLogKinds; ++i) {
    counter(fmt::format("gunicorn.log.{}", kLogNames[i]), now.logs[i] - before.logs[i]);
  }
  return lines;
}

std::unique_ptr<StatsdPusher> StatsdPusher::open(const std::string& host, std::string prefix,
                                                 std::string tags, std::string* error) {
  UniqueFd fd;
  if (host.starts_with("unix:")) {
    sockaddr_un addr{};
    std::string path = host.substr(5);
    if (path.size() >= sizeof addr.sun_path) {
      *error = "statsd_host: unix socket path too long: " + path;
      return nullptr;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    fd.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    // Not yet there is fine (the agent may start later): connect() is retried before a send.
    if (fd) (void)connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } else {
    size_t colon = host.rfind(':');
    std::string name = host.substr(0, colon), port = host.substr(colon + 1);
    if (name.starts_with('[')) name = name.substr(1, name.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(name.c_str(), port.c_str(), &hints, &found); rc != 0) {
      *error = fmt::format("statsd_host: cannot resolve '{}': {}", name, gai_strerror(rc));
      return nullptr;
    }
    for (addrinfo* a = found; a && !fd; a = a->ai_next) {
      fd.reset(socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (fd && connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) fd.reset();
    }
    freeaddrinfo(found);
  }
  if (!fd) {
    *error = fmt::format("statsd_host: cannot open a socket to {}: {}", host, strerror(errno));
    return nullptr;
  }
  return std::unique_ptr<StatsdPusher>(
      new StatsdPusher(std::move(fd), host, std::move(prefix), std::move(tags)));
}

StatsdPusher::StatsdPusher(UniqueFd fd, std::string host, std::string prefix, std::string tags)
    : fd_(std::move(fd)),
      host_(std::move(host)),
      prefix_(std::move(prefix)),
      tags_(std::move(tags)) {}

namespace {

Counters with_own_logs(Counters totals) {
  const std::atomic<uint64_t>* own = log::own_counts();
  for (int i = 0; i < kLogKinds; ++i) totals.logs[i] += own[i].load(std::memory_order_relaxed);
  return totals;
}

}  // namespace

void StatsdPusher::push(Counters totals, int workers) {
  totals = with_own_logs(totals);
  send(statsd_lines(totals, before_, workers, prefix_, tags_));
  before_ = totals;
}

void StatsdPusher::start_from(Counters totals) { before_ = with_own_logs(totals); }

void StatsdPusher::send(const std::vector<std::string>& lines) {
  std::string datagram;
  auto flush = [&] {
    if (datagram.empty()) return;
    ssize_t n = ::send(fd_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTCONN && host_.starts_with("unix:")) {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, host_.data() + 5, host_.size() - 5);
      if (connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
        n = ::send(fd_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n < 0 && !warned_) {
      spdlog::warn("statsd: cannot send to {}: {} (lines are dropped until it works)", host_,
                   strerror(errno));
    }
    warned_ = n < 0;
    datagram.clear();
  };
  for (const std::string& line : lines) {
    if (!datagram.empty() && datagram.size() + 1 + line.size() > kDatagram) flush();
    if (!datagram.empty()) datagram += '\n';
    datagram += line;
  }
  flush();
}

}  // namespace cppicorn::metrics
