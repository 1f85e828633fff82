#include "scoreboard/scoreboard.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

namespace cppicorn {

void ScoreboardSlot::set_request(std::string_view line) {
  size_t n = std::min(line.size(), sizeof request - 1);
  std::memcpy(request, line.data(), n);
  request[n] = '\0';
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
      s.pid = 0;
      s.heartbeat_ms = monotonic_ms();
      s.request_started_ms = 0;
      s.requests = 0;
      s.request[0] = '\0';
      s.state = WorkerState::kBooting;
      return i;
    }
  }
  return -1;
}

void Scoreboard::release(int slot) { slots_[slot].state = WorkerState::kFree; }

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace cppicorn
