// The scoreboard's shared mapping, its slots' counters and the master's totals.
#include "scoreboard/scoreboard.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

namespace cppicorn {
namespace {

uint64_t get(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }

}  // namespace

std::string_view exit_cause_name(ExitCause c) {
  switch (c) {
    case ExitCause::kCrash:
      return "crash";
    case ExitCause::kTimeout:
      return "timeout";
    case ExitCause::kMaxRequests:
      return "max_requests";
    case ExitCause::kReload:
      return "reload";
    case ExitCause::kStop:
      return "stop";
    case ExitCause::kBootError:
      return "boot_error";
  }
  return "crash";
}

uint64_t Counters::responses(int k) const {
  uint64_t n = 0;
  for (int i = 0; i < kStatusCells; ++i) {
    if (cell_class(i) == k) n += statuses[i];
  }
  return n;
}

uint64_t Counters::responses() const {
  uint64_t n = 0;
  for (uint64_t v : statuses) n += v;
  return n;
}

Counters& Counters::operator+=(const Counters& o) {
  for (int i = 0; i < kStatusCells; ++i) statuses[i] += o.statuses[i];
  for (int i = 0; i < kDurationBuckets; ++i) duration[i] += o.duration[i];
  duration_us += o.duration_us;
  accepted += o.accepted;
  for (int i = 0; i < kRejectKinds; ++i) rejections[i] += o.rejections[i];
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  for (int i = 0; i < kLogKinds; ++i) logs[i] += o.logs[i];
  return *this;
}

void ScoreboardSlot::set_request(std::string_view line) {
  size_t n = std::min(line.size(), sizeof request - 1);
  std::memcpy(request, line.data(), n);
  request[n] = '\0';
}

// A handful of compares on a 15-entry table: cheaper than anything cleverer at this size.
void ScoreboardSlot::count_duration(int64_t us) {
  int i = 0;
  while (i < kDurationBuckets - 1 && static_cast<double>(us) > kDurationBounds[i] * 1e6) ++i;
  bump(duration[i]);
  duration_us.fetch_add(static_cast<uint64_t>(std::max<int64_t>(us, 0)), std::memory_order_relaxed);
}

void ScoreboardSlot::count_rejection(int status) {
  for (int i = 0; i < kRejectKinds; ++i) {
    if (kRejectStatuses[i] == status) return bump(rejections[i]);
  }
}

Counters ScoreboardSlot::snapshot() const {
  Counters c;
  for (int i = 0; i < kStatusCells; ++i) c.statuses[i] = get(statuses[i]);
  for (int i = 0; i < kDurationBuckets; ++i) c.duration[i] = get(duration[i]);
  c.duration_us = get(duration_us);
  c.accepted = get(accepted);
  for (int i = 0; i < kRejectKinds; ++i) c.rejections[i] = get(rejections[i]);
  c.bytes_in = get(bytes_in);
  c.bytes_out = get(bytes_out);
  for (int i = 0; i < kLogKinds; ++i) c.logs[i] = get(logs[i]);
  return c;
}

void ScoreboardSlot::reset() {
  pid = 0;
  max_requests_reached = false;
  restarting = false;
  reload_requested = false;
  heartbeat_ms = monotonic_ms();
  started_ms = heartbeat_ms.load();
  request_started_ms = 0;
  requests = 0;
  request[0] = '\0';
  for (auto& c : statuses) c = 0;
  for (auto& c : logs) c = 0;
  for (auto& c : duration) c = 0;
  duration_us = 0;
  accepted = 0;
  for (auto& c : rejections) c = 0;
  bytes_in = bytes_out = 0;
  for (auto& c : conns) c = 0;
}

Scoreboard::Scoreboard() {
  void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot map the scoreboard");
  slots_ = static_cast<ScoreboardSlot*>(p);
  for (int i = 0; i < kMaxWorkers; ++i) new (&slots_[i]) ScoreboardSlot();
}

Scoreboard::~Scoreboard() { munmap(slots_, kBytes); }

int Scoreboard::claim() {
  for (int i = 0; i < kMaxWorkers; ++i) {
    if (slots_[i].state.load() == WorkerState::kFree) {
      ScoreboardSlot& s = slots_[i];
      s.reset();
      s.state = WorkerState::kBooting;
      return i;
    }
  }
  return -1;
}

// The worker is gone (reaped), so its counts are final.
void Scoreboard::release(int slot) {
  departed_ += slots_[slot].snapshot();
  slots_[slot].state = WorkerState::kFree;
}

Counters Scoreboard::totals() const {
  Counters sum = departed_;
  for (int i = 0; i < kMaxWorkers; ++i) {
    if (slots_[i].state.load() != WorkerState::kFree) sum += slots_[i].snapshot();
  }
  return sum;
}

int64_t monotonic_ms() { return monotonic_us() / 1000; }

int64_t monotonic_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

}  // namespace cppicorn
