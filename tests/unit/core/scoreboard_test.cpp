// The scoreboard's counters and their Prometheus rendering: buckets land where OTel's bounds
// say, released slots fold into totals (nothing goes backwards), and the text is well formed.
#include "scoreboard/scoreboard.h"

#include <gtest/gtest.h>

#include <string>

#include "metrics/exposition.h"

namespace cppicorn {
namespace {

TEST(Scoreboard, DurationBucketsFollowTheBounds) {
  Scoreboard board;
  int i = board.claim();
  ASSERT_GE(i, 0);
  board[i].count_duration(0);         // first bucket
  board[i].count_duration(5000);      // exactly 5 ms: still le=0.005
  board[i].count_duration(5001);      // le=0.01
  board[i].count_duration(20000000);  // 20 s: above the last bound
  Counters c = board.totals();
  EXPECT_EQ(c.duration[0], 2u);
  EXPECT_EQ(c.duration[1], 1u);
  EXPECT_EQ(c.duration[kDurationBuckets - 1], 1u);
  EXPECT_EQ(c.duration_us, 20010001u);
}

TEST(Scoreboard, ReleasedSlotsFoldIntoTotals) {
  Scoreboard board;
  int a = board.claim();
  board[a].count_response(200);
  board[a].count_response(404);
  board[a].count_rejection(431);
  board[a].count_rejection(500);  // not a rejection status: ignored
  board[a].add_bytes_in(10);
  board.release(a);
  int b = board.claim();
  EXPECT_EQ(a, b);  // the slot is reused, zeroed
  EXPECT_EQ(board[b].snapshot().responses(2), 0u);
  board[b].count_response(200);
  Counters c = board.totals();
  EXPECT_EQ(c.responses(2), 2u);
  EXPECT_EQ(c.responses(4), 1u);
  EXPECT_EQ(c.rejections[4], 1u);  // 431
  EXPECT_EQ(c.bytes_in, 10u);
}

TEST(Scoreboard, ConnectionGaugesMoveBetweenStates) {
  Scoreboard board;
  ScoreboardSlot& s = board[board.claim()];
  s.state = WorkerState::kIdle;
  EXPECT_EQ(metrics::view_of(s), metrics::WorkerView::kIdle);
  s.move_conn(ConnState::kNone, ConnState::kReading);
  EXPECT_EQ(metrics::view_of(s), metrics::WorkerView::kReading);  // a request on its way in
  s.move_conn(ConnState::kReading, ConnState::kApp);
  s.state = WorkerState::kBusy;
  EXPECT_EQ(metrics::view_of(s), metrics::WorkerView::kApp);
  s.state = WorkerState::kIdle;
  s.move_conn(ConnState::kApp, ConnState::kWriting);
  EXPECT_EQ(metrics::view_of(s), metrics::WorkerView::kWriting);
  s.move_conn(ConnState::kWriting, ConnState::kNone);
  for (const auto& g : s.conns) EXPECT_EQ(g.load(), 0);
}

TEST(Exposition, RendersCumulativeHistogramAndHelp) {
  metrics::Snapshot s;
  s.counters.duration[0] = 3;
  s.counters.duration[2] = 1;
  s.counters.duration_us = 1500;
  s.queues.push_back({"http://127.0.0.1:8000", 4, 128});
  s.version = "1.2\"3";
  std::string text = metrics::render(s);
  EXPECT_NE(text.find("cppicorn_http_request_duration_seconds_bucket{le=\"0.005\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("cppicorn_http_request_duration_seconds_bucket{le=\"0.025\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("cppicorn_http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("cppicorn_http_request_duration_seconds_count 4\n"), std::string::npos);
  EXPECT_NE(text.find("cppicorn_http_request_duration_seconds_sum 0.001500\n"), std::string::npos);
  EXPECT_NE(text.find("cppicorn_listen_queue_length{listener=\"http://127.0.0.1:8000\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("cppicorn_build_info{version=\"1.2\\\"3\"} 1\n"), std::string::npos);
  // Every family has HELP and TYPE before its samples.
  size_t types = 0, pos = 0;
  while ((pos = text.find("# TYPE ", pos)) != std::string::npos) ++types, ++pos;
  EXPECT_GE(types, 19u);
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace cppicorn
