// StatsD lines from scoreboard deltas: gunicorn's names and formats, prefix and DogStatsD tags,
// exact status codes where the scoreboard has them and the class where it has not, and the
// interval's mean duration weighted by its request count.
#include "metrics/statsd.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace cppicorn::metrics {
namespace {

bool has(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

TEST(Statsd, LinesAreDeltasInGunicornsNames) {
  Scoreboard board;
  int i = board.claim();
  board[i].count_response(200);
  board[i].count_duration(1000);
  Counters before = board.totals();
  for (int k = 0; k < 3; ++k) board[i].count_response(200);
  board[i].count_response(404);
  board[i].count_response(599);  // not registered: only its class is known
  board[i].count_duration(2000);
  board[i].count_duration(4000);
  board[i].logs[1] = 2;
  std::vector<std::string> lines = statsd_lines(board.totals(), before, 3, "app.", "env:ci,a:b");
  EXPECT_TRUE(has(lines, "app.gunicorn.requests:5|c|@1.0|#env:ci,a:b"));
  EXPECT_TRUE(has(lines, "app.gunicorn.request.status.200:3|c|@1.0|#env:ci,a:b"));
  EXPECT_TRUE(has(lines, "app.gunicorn.request.status.404:1|c|@1.0|#env:ci,a:b"));
  EXPECT_TRUE(has(lines, "app.gunicorn.request.status.5xx:1|c|@1.0|#env:ci,a:b"));
  EXPECT_TRUE(has(lines, "app.gunicorn.request.duration:3.000|ms|@0.5|#env:ci,a:b"));
  EXPECT_TRUE(has(lines, "app.gunicorn.workers:3|g|#env:ci,a:b"));
  EXPECT_TRUE(has(lines, "app.gunicorn.log.error:2|c|@1.0|#env:ci,a:b"));
  EXPECT_EQ(lines.size(), 7u);  // nothing with a zero delta
}

TEST(Statsd, AnIdleIntervalSendsOnlyTheGauge) {
  Counters c;
  std::vector<std::string> lines = statsd_lines(c, c, 2, "", "");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "gunicorn.workers:2|g");
}

TEST(Statsd, OneRequestIsOneUnsampledTimer) {
  Counters before, now;
  now.duration[0] = 1;
  now.duration_us = 1500;
  now.statuses[kStatusCell.cell[204]] = 1;
  std::vector<std::string> lines = statsd_lines(now, before, 1, "", "");
  EXPECT_TRUE(has(lines, "gunicorn.request.duration:1.500|ms"));
  EXPECT_TRUE(has(lines, "gunicorn.request.status.204:1|c|@1.0"));
}

TEST(Scoreboard, EveryStatusHasOneCellAndItsClass) {
  for (int s = 100; s < 600; ++s) {
    int cell = kStatusCell.cell[s];
    ASSERT_LT(cell, kStatusCells);
    EXPECT_EQ(cell_class(cell), s / 100) << s;
    EXPECT_TRUE(cell_status(cell) == s || cell_status(cell) == 0) << s;
  }
  EXPECT_EQ(cell_status(kStatusCell.cell[429]), 429);
  EXPECT_EQ(cell_status(kStatusCell.cell[299]), 0);
}

}  // namespace
}  // namespace cppicorn::metrics
