// Prometheus text exposition (format 0.0.4) of what the master knows: the scoreboard's totals
// and gauges plus the master's own counts. Labels stay few and bounded: status classes,
// states, causes and listener names; never a pid or a path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scoreboard/scoreboard.h"

namespace cppicorn::metrics {

// Worker states as metrics show them: a serving worker is "app" while in the app, else
// "writing" or "reading" while any of its connections is, else "idle".
enum class WorkerView : uint8_t { kBooting, kIdle, kReading, kApp, kWriting, kStopping };
inline constexpr int kWorkerViews = 6;
const char* worker_view_name(WorkerView v);
WorkerView view_of(const ScoreboardSlot& slot);

struct ListenQueue {
  std::string listener;  // its URL
  uint32_t length = 0;   // connections waiting for accept (tcpi_unacked)
  uint32_t max = 0;      // the backlog the kernel applies (tcpi_sacked)
};

// One scrape's worth of numbers, gathered by the master.
struct Snapshot {
  Counters counters;
  int64_t conns[kConnStates] = {};
  int workers[kWorkerViews] = {};
  int workers_desired = 0;
  uint64_t generation = 0;
  uint64_t exits[kExitCauses] = {};
  uint64_t reloads_ok = 0, reloads_failed = 0;
  uint64_t upgrades_ok = 0, upgrades_failed = 0;
  std::vector<ListenQueue> queues;
  double start_time = 0;  // the master's, in seconds since the epoch
  bool ready = false;
  std::string version;
};

// Adds the scoreboard's live slots (gauges) to *s; counters come from Scoreboard::totals().
void gather(const Scoreboard& board, Snapshot* s);

std::string render(const Snapshot& s);

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace cppicorn::metrics
