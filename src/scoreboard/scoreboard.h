// Scoreboard: one slot per worker in a shared anonymous mapping made before the first fork.
// Workers write their heartbeat, state and current request; the master reads it for
// timeouts, the watchdog and STATUS= lines. Cheaper than gunicorn's per-worker temp files.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace cppicorn {

enum class WorkerState : uint8_t { kFree, kBooting, kIdle, kBusy, kStopping };

struct alignas(64) ScoreboardSlot {
  std::atomic<pid_t> pid{0};
  std::atomic<WorkerState> state{WorkerState::kFree};
  std::atomic<int64_t> heartbeat_ms{0};        // monotonic; refreshed while the loop runs
  std::atomic<int64_t> request_started_ms{0};  // 0 when no request is in the app
  std::atomic<uint64_t> requests{0};           // served since boot
  char request[120] = {};  // "GET /path HTTP/1.1" of the request in the app (may tear: logs only)

  void set_request(std::string_view line);
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
  void release(int slot);
  ScoreboardSlot& operator[](int slot) { return slots_[slot]; }
  // The whole mapping (page-aligned), for a worker to keep it from the app's children.
  void* memory() const { return slots_; }
  static constexpr size_t kBytes = sizeof(ScoreboardSlot) * kMaxWorkers;

 private:
  ScoreboardSlot* slots_;
};

// Milliseconds on CLOCK_MONOTONIC, the clock of every scoreboard timestamp.
int64_t monotonic_ms();

}  // namespace cppicorn
