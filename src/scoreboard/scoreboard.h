// Scoreboard: one slot per worker in a shared anonymous mapping made before the first fork.
// Workers write their heartbeat, state, current request and counters; the master reads it
// for timeouts, the watchdog, STATUS= lines, metrics and the control socket. Cheaper than
// gunicorn's per-worker temp files, and no syscall per request: counters are relaxed atomics
// in the worker's own slot.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace cppicorn {

enum class WorkerState : uint8_t { kFree, kBooting, kIdle, kBusy, kStopping };

// What a worker's connections are doing, as gauges per slot (nginx's reading/writing/waiting).
enum class ConnState : uint8_t { kReading, kApp, kWriting, kKeepAlive, kNone };
inline constexpr int kConnStates = 4;

// Why a worker left (the master decides; a worker recycled by max_requests says so first).
enum class ExitCause : uint8_t { kCrash, kTimeout, kMaxRequests, kReload, kStop, kBootError };
inline constexpr int kExitCauses = 6;
std::string_view exit_cause_name(ExitCause c);

// Request-duration histogram: the upper bounds (seconds) OpenTelemetry advises for
// http.server.request.duration; one more bucket counts what is above the last.
inline constexpr double kDurationBounds[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                             0.5,   0.75, 1,     2.5,  5,     7.5, 10};
inline constexpr int kDurationBuckets = sizeof kDurationBounds / sizeof kDurationBounds[0] + 1;

// Statuses counted exactly (IANA's registry plus 418): statsd names them one by one
// (gunicorn.request.status.<code>). Any other code counts in its class's "other" cell, so a
// response still costs one counter, found by one table load (kStatusCell).
inline constexpr int kExactStatuses[] = {
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
    302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409,
    410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428,
    429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
inline constexpr int kExactKinds = sizeof kExactStatuses / sizeof kExactStatuses[0];
inline constexpr int kStatusCells = kExactKinds + 5;  // then "other 1xx" .. "other 5xx"
struct StatusCells {
  uint8_t cell[600] = {};
  constexpr StatusCells() {
    for (int s = 100; s < 600; ++s) cell[s] = static_cast<uint8_t>(kExactKinds + s / 100 - 1);
    for (int i = 0; i < kExactKinds; ++i) cell[kExactStatuses[i]] = static_cast<uint8_t>(i);
  }
};
inline constexpr StatusCells kStatusCell{};
// The status a cell counts (0 for the "other" cells) and its class (1..5).
constexpr int cell_status(int cell) { return cell < kExactKinds ? kExactStatuses[cell] : 0; }
constexpr int cell_class(int cell) {
  return cell < kExactKinds ? kExactStatuses[cell] / 100 : cell - kExactKinds + 1;
}

// Lines the error log wrote, by level (log::count_into fills them), as gunicorn's statsd
// counts gunicorn.log.*.
inline constexpr int kLogKinds = 4;  // critical, error, warning, exception

// The statuses the server itself answers malformed or refused requests with.
inline constexpr int kRejectStatuses[] = {400, 408, 413, 414, 431, 501, 505};
inline constexpr int kRejectKinds = sizeof kRejectStatuses / sizeof kRejectStatuses[0];

// Counters as plain numbers: a slot's snapshot, or the master's totals (the live slots plus
// every departed worker's last counts, so nothing goes backwards when a worker is replaced).
struct Counters {
  uint64_t statuses[kStatusCells] = {};      // by status (kStatusCell)
  uint64_t duration[kDurationBuckets] = {};  // per bucket, not cumulative
  uint64_t duration_us = 0;                  // sum
  uint64_t accepted = 0;
  uint64_t rejections[kRejectKinds] = {};
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t logs[kLogKinds] = {};

  // Responses of status class k (1..5).
  uint64_t responses(int k) const;
  uint64_t responses() const;  // all
  Counters& operator+=(const Counters& o);
};

struct alignas(64) ScoreboardSlot {
  std::atomic<pid_t> pid{0};
  std::atomic<WorkerState> state{WorkerState::kFree};
  std::atomic<bool> max_requests_reached{false};  // the worker is recycling itself
  std::atomic<bool> reload_requested{false};      // --reload: the app's files changed
  std::atomic<bool> restarting{false};         // the master retires it for a successor (HUP, USR2)
  std::atomic<int64_t> heartbeat_ms{0};        // monotonic; refreshed while the loop runs
  std::atomic<int64_t> request_started_ms{0};  // 0 when no request is in the app
  std::atomic<int64_t> started_ms{0};          // monotonic; when the slot was claimed
  std::atomic<uint64_t> requests{0};           // served since boot
  char request[120] = {};  // "GET /path HTTP/1.1" of the request in the app (may tear: logs only)

  // Counters. Relaxed: each is a number on its own, read by the master at scrape time.
  std::atomic<uint64_t> statuses[kStatusCells] = {};
  std::atomic<uint64_t> duration[kDurationBuckets] = {};
  std::atomic<uint64_t> duration_us{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejections[kRejectKinds] = {};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<int32_t> conns[kConnStates] = {};  // open connections by state
  // Written by the master every second: the serving workers' mean open connections, rounded
  // up (0 until known). A saturated sync worker holding more than this lets clients go.
  std::atomic<int32_t> fair_share{0};
  std::atomic<uint64_t> logs[kLogKinds] = {};  // written by the error log, not per request

  void set_request(std::string_view line);
  void count_response(int status) {
    if (status >= 100 && status < 600) bump(statuses[kStatusCell.cell[status]]);
  }
  void count_duration(int64_t us);
  void count_rejection(int status);
  void add_bytes_in(uint64_t n) { bytes_in.fetch_add(n, std::memory_order_relaxed); }
  void add_bytes_out(uint64_t n) { bytes_out.fetch_add(n, std::memory_order_relaxed); }
  // A connection moves from one state to another (kNone: opened or closed).
  void move_conn(ConnState from, ConnState to) {
    if (from == to) return;
    if (from != ConnState::kNone)
      conns[static_cast<int>(from)].fetch_sub(1, std::memory_order_relaxed);
    if (to != ConnState::kNone) conns[static_cast<int>(to)].fetch_add(1, std::memory_order_relaxed);
  }
  // The counters as they are now.
  Counters snapshot() const;
  void reset();

  static void bump(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
};

class Scoreboard {
 public:
  static constexpr int kMaxWorkers = 1024;

  // Maps the shared memory; call in the master before forking.
  Scoreboard();
  ~Scoreboard();
  Scoreboard(const Scoreboard&) = delete;
  Scoreboard& operator=(const Scoreboard&) = delete;

  // A free slot (marked booting, pid 0), or -1 when all are taken.
  int claim();
  // Frees a slot, folding its counters into the departed workers' totals first.
  void release(int slot);
  ScoreboardSlot& operator[](int slot) { return slots_[slot]; }
  const ScoreboardSlot& operator[](int slot) const { return slots_[slot]; }

  // Every counter: the live slots plus all departed workers'. Never goes backwards.
  Counters totals() const;
  // The whole mapping (page-aligned), for a worker to keep it from the app's children.
  void* memory() const { return slots_; }
  static constexpr size_t kBytes = sizeof(ScoreboardSlot) * kMaxWorkers;

 private:
  ScoreboardSlot* slots_;
  Counters departed_;  // the master's own memory: workers never see it
};

// Milliseconds (microseconds) on CLOCK_MONOTONIC, the clock of every scoreboard timestamp.
int64_t monotonic_ms();
int64_t monotonic_us();

}  // namespace cppicorn
