// Renders a Snapshot in the Prometheus text format; metric names follow Prometheus's naming
// practice (base units, _total on counters) and OpenTelemetry's HTTP server conventions.
#include "metrics/exposition.h"

#include <fmt/format.h>

#include <iterator>

namespace cppicorn::metrics {
namespace {

const char* const kConnNames[kConnStates] = {"reading", "app", "writing", "keepalive"};

// Label values are listener URLs and our own words; escape what the format requires.
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename T>
void sample(std::string& out, const char* name, T value) {
  fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
}

template <typename T>
void sample(std::string& out, const char* name, const char* label, std::string_view lvalue,
            T value) {
  fmt::format_to(std::back_inserter(out), "{}{{{}=\"{}\"}} {}\n", name, label, lvalue, value);
}

}  // namespace

const char* worker_view_name(WorkerView v) {
  static const char* const names[kWorkerViews] = {"booting", "idle",    "reading",
                                                  "app",     "writing", "stopping"};
  return names[static_cast<int>(v)];
}

WorkerView view_of(const ScoreboardSlot& slot) {
  switch (slot.state.load(std::memory_order_relaxed)) {
    case WorkerState::kBooting:
    case WorkerState::kFree:
      return WorkerView::kBooting;
    case WorkerState::kStopping:
      return WorkerView::kStopping;
    case WorkerState::kBusy:
      return WorkerView::kApp;
    case WorkerState::kIdle:
      break;
  }
  auto n = [&](ConnState c) { return slot.conns[static_cast<int>(c)].load(); };
  if (n(ConnState::kWriting) > 0) return WorkerView::kWriting;
  if (n(ConnState::kReading) > 0) return WorkerView::kReading;
  return WorkerView::kIdle;
}

void gather(const Scoreboard& board, Snapshot* s) {
  for (int i = 0; i < Scoreboard::kMaxWorkers; ++i) {
    const ScoreboardSlot& slot = board[i];
    if (slot.state.load() == WorkerState::kFree) continue;
    ++s->workers[static_cast<int>(view_of(slot))];
    for (int c = 0; c < kConnStates; ++c) s->conns[c] += slot.conns[c].load();
  }
}

std::string render(const Snapshot& s) {
  std::string out;
  out.reserve(8192);
  const Counters& c = s.counters;

  family(out, "cppicorn_build_info", "gauge", "The running version (value 1).");
  sample(out, "cppicorn_build_info", "version", escape(s.version), 1);
  family(out, "cppicorn_start_time_seconds", "gauge", "When the master started (Unix time).");
  sample(out, "cppicorn_start_time_seconds", fmt::format("{:.3f}", s.start_time));
  family(out, "cppicorn_ready", "gauge",
         "1 while the server takes traffic, 0 once it drains (what /health/ready says).");
  sample(out, "cppicorn_ready", s.ready ? 1 : 0);

  family(out, "cppicorn_http_requests_total", "counter",
         "Responses completed, by status class (the server's own rejections included).");
  for (int i = 0; i < 5; ++i) {
    sample(out, "cppicorn_http_requests_total", "code", fmt::format("{}xx", i + 1),
           c.responses(i + 1));
  }
  family(out, "cppicorn_http_request_duration_seconds", "histogram",
         "Time in the application per request, from the call to its return.");
  uint64_t cumulative = 0;
  for (int i = 0; i < kDurationBuckets; ++i) {
    cumulative += c.duration[i];
    std::string le = i + 1 < kDurationBuckets ? fmt::format("{}", kDurationBounds[i]) : "+Inf";
    sample(out, "cppicorn_http_request_duration_seconds_bucket", "le", le, cumulative);
  }
  sample(out, "cppicorn_http_request_duration_seconds_sum",
         fmt::format("{:.6f}", static_cast<double>(c.duration_us) / 1e6));
  sample(out, "cppicorn_http_request_duration_seconds_count", cumulative);
  family(out, "cppicorn_http_requests_in_flight", "gauge",
         "Requests in the application or being written.");
  sample(
      out, "cppicorn_http_requests_in_flight",
      s.conns[static_cast<int>(ConnState::kApp)] + s.conns[static_cast<int>(ConnState::kWriting)]);
  family(out, "cppicorn_http_rejections_total", "counter",
         "Requests the server refused itself, by the status it answered.");
  for (int i = 0; i < kRejectKinds; ++i) {
    sample(out, "cppicorn_http_rejections_total", "code", std::to_string(kRejectStatuses[i]),
           c.rejections[i]);
  }
  family(out, "cppicorn_received_bytes_total", "counter", "Bytes read from clients.");
  sample(out, "cppicorn_received_bytes_total", c.bytes_in);
  family(out, "cppicorn_sent_bytes_total", "counter", "Bytes written to clients.");
  sample(out, "cppicorn_sent_bytes_total", c.bytes_out);

  family(out, "cppicorn_connections_accepted_total", "counter", "Connections accepted.");
  sample(out, "cppicorn_connections_accepted_total", c.accepted);
  family(out, "cppicorn_connections", "gauge",
         "Open connections by state (keepalive: idle between requests).");
  for (int i = 0; i < kConnStates; ++i) {
    sample(out, "cppicorn_connections", "state", kConnNames[i], s.conns[i]);
  }
  family(out, "cppicorn_listen_queue_length", "gauge",
         "Connections waiting in a TCP listener's accept queue.");
  for (const ListenQueue& q : s.queues)
    sample(out, "cppicorn_listen_queue_length", "listener", escape(q.listener), q.length);
  family(out, "cppicorn_listen_queue_max", "gauge", "The accept queue's limit (backlog).");
  for (const ListenQueue& q : s.queues)
    sample(out, "cppicorn_listen_queue_max", "listener", escape(q.listener), q.max);

  family(out, "cppicorn_workers", "gauge", "Worker processes by state.");
  for (int i = 0; i < kWorkerViews; ++i) {
    sample(out, "cppicorn_workers", "state", worker_view_name(static_cast<WorkerView>(i)),
           s.workers[i]);
  }
  family(out, "cppicorn_workers_desired", "gauge", "Workers the master keeps running.");
  sample(out, "cppicorn_workers_desired", s.workers_desired);
  family(out, "cppicorn_generation", "gauge", "The worker generation (a reload adds one).");
  sample(out, "cppicorn_generation", s.generation);
  family(out, "cppicorn_worker_exits_total", "counter", "Workers that exited, by cause.");
  for (int i = 0; i < kExitCauses; ++i) {
    sample(out, "cppicorn_worker_exits_total", "reason", exit_cause_name(static_cast<ExitCause>(i)),
           s.exits[i]);
  }
  family(out, "cppicorn_reloads_total", "counter", "Reloads (HUP), by result.");
  sample(out, "cppicorn_reloads_total", "result", "ok", s.reloads_ok);
  sample(out, "cppicorn_reloads_total", "result", "failed", s.reloads_failed);
  family(out, "cppicorn_upgrades_total", "counter", "Binary upgrades (USR2), by result.");
  sample(out, "cppicorn_upgrades_total", "result", "ok", s.upgrades_ok);
  sample(out, "cppicorn_upgrades_total", "result", "failed", s.upgrades_failed);
  return out;
}

}  // namespace cppicorn::metrics
