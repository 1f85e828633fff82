// ThreadPool on a real libevent loop: N tasks that wait for each other finish only when N
// threads run them at once; completions come back on the loop thread, in order for one
// thread; thread hooks run on every thread (a failing start fails start()); oldest() names
// the call that has run longest. Concurrency is proven with barriers, never timed.
#include "worker/thread_pool.h"

#include <event2/event.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cppicorn::worker {
namespace {

using namespace std::chrono_literals;

// A barrier that gives up (rather than hang the test) after a generous deadline.
class Gate {
 public:
  explicit Gate(int n) : n_(n) {}
  bool arrive_and_wait() {
    std::unique_lock lock(mu_);
    if (++arrived_ >= n_) {
      cv_.notify_all();
      return true;
    }
    return cv_.wait_for(lock, 20s, [&] { return arrived_ >= n_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    arrived_ = n_;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
  int arrived_ = 0;
};

struct Job final : Task {
  std::function<void()> body;
  std::string name = "GET /job HTTP/1.1";
  std::thread::id ran_on, completed_on;
  std::vector<int>* order = nullptr;
  int id = 0;
  bool done = false;

  void run() override {
    ran_on = std::this_thread::get_id();
    if (body) body();
  }
  void complete() override {
    completed_on = std::this_thread::get_id();
    if (order) order->push_back(id);
    done = true;
  }
  std::string_view what() const override { return name; }
};

class ThreadPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { base = event_base_new(); }
  void TearDown() override { event_base_free(base); }

  // Runs the loop until pred() holds (false after a deadline).
  template <typename Pred>
  bool loop_until(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      timeval tv{0, 10000};
      event_base_loopexit(base, &tv);
      event_base_loop(base, EVLOOP_ONCE);
    }
    return true;
  }

  event_base* base = nullptr;
};

TEST_F(ThreadPoolTest, RunsAsManyCallsAtOnceAsItHasThreads) {
  constexpr int kThreads = 6;
  ThreadPool pool(base, kThreads, {});
  std::string error;
  ASSERT_TRUE(pool.start(&error)) << error;
  Gate gate(kThreads);
  std::vector<Job> jobs(kThreads);
  std::atomic<int> passed{0};
  for (Job& j : jobs) {
    j.body = [&] { passed += gate.arrive_and_wait() ? 1 : 0; };
    pool.submit(j);
  }
  ASSERT_TRUE(loop_until([&] {
    for (const Job& j : jobs)
      if (!j.done) return false;
    return true;
  }));
  EXPECT_EQ(passed.load(), kThreads) << "every call must have met the others at the gate";
  std::set<std::thread::id> threads;
  for (const Job& j : jobs) {
    threads.insert(j.ran_on);
    EXPECT_EQ(j.completed_on, std::this_thread::get_id()) << "complete() runs on the loop";
  }
  EXPECT_EQ(threads.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST_F(ThreadPoolTest, FewerThreadsThanCallsMeansTheRestWait) {
  // Two threads, three calls that each need all three at the gate: they cannot all pass.
  ThreadPool pool(base, 2, {});
  std::string error;
  ASSERT_TRUE(pool.start(&error)) << error;
  Gate gate(3);
  std::vector<Job> jobs(3);
  std::atomic<int> started{0};
  for (Job& j : jobs) {
    j.body = [&] {
      ++started;
      gate.arrive_and_wait();
    };
    pool.submit(j);
  }
  ASSERT_TRUE(loop_until([&] { return started.load() == 2; }));
  std::string what;
  EXPECT_NE(pool.oldest(&what), 0);
  EXPECT_EQ(what, "GET /job HTTP/1.1");
  EXPECT_EQ(started.load(), 2) << "a third call ran with only two threads";
  gate.open();  // let them go
  ASSERT_TRUE(loop_until([&] { return jobs[0].done && jobs[1].done && jobs[2].done; }));
  EXPECT_EQ(pool.oldest(nullptr), 0) << "no call runs any more";
}

TEST_F(ThreadPoolTest, OneThreadRunsAndCompletesInSubmissionOrder) {
  ThreadPool pool(base, 1, {});
  std::string error;
  ASSERT_TRUE(pool.start(&error)) << error;
  std::vector<int> order;
  std::vector<Job> jobs(50);
  for (int i = 0; i < 50; ++i) {
    jobs[i].id = i;
    jobs[i].order = &order;
    pool.submit(jobs[i]);
  }
  ASSERT_TRUE(loop_until([&] { return order.size() == 50; }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST_F(ThreadPoolTest, ManyCompletionsAreAllDelivered) {
  // Completions pushed while the loop is not looking share one wake-up: none may be lost.
  ThreadPool pool(base, 4, {});
  std::string error;
  ASSERT_TRUE(pool.start(&error)) << error;
  std::vector<Job> jobs(2000);
  size_t done = 0;
  std::vector<int> order;
  for (Job& j : jobs) {
    j.order = &order;
    pool.submit(j);
  }
  ASSERT_TRUE(loop_until([&] { return order.size() == jobs.size(); }));
  for (const Job& j : jobs) done += j.done;
  EXPECT_EQ(done, jobs.size());
}

TEST_F(ThreadPoolTest, HooksRunOnEveryThread) {
  std::mutex mu;
  std::set<int> started;
  std::set<std::thread::id> start_threads, stop_threads;
  {
    ThreadPool::Hooks hooks{[&](int index, std::string*) {
                              std::lock_guard lock(mu);
                              started.insert(index);
                              start_threads.insert(std::this_thread::get_id());
                              return true;
                            },
                            [&] {
                              std::lock_guard lock(mu);
                              stop_threads.insert(std::this_thread::get_id());
                            }};
    ThreadPool pool(base, 3, hooks);
    std::string error;
    ASSERT_TRUE(pool.start(&error)) << error;
    EXPECT_EQ(started, (std::set<int>{0, 1, 2})) << "start() returns once every hook ran";
    pool.stop();
    EXPECT_EQ(stop_threads, start_threads);
  }
  EXPECT_EQ(start_threads.size(), 3u);
}

TEST_F(ThreadPoolTest, AFailingStartHookFailsStart) {
  std::atomic<int> stops{0};
  ThreadPool::Hooks hooks{[&](int index, std::string* error) {
                            if (index != 1) return true;
                            *error = "no database";
                            return false;
                          },
                          [&] { ++stops; }};
  ThreadPool pool(base, 3, hooks);
  std::string error;
  EXPECT_FALSE(pool.start(&error));
  EXPECT_EQ(error, "no database");
  EXPECT_EQ(stops.load(), 2) << "threads whose start succeeded run their stop hook";
}

TEST_F(ThreadPoolTest, StopLetsRunningCallsFinish) {
  ThreadPool pool(base, 2, {});
  std::string error;
  ASSERT_TRUE(pool.start(&error)) << error;
  Gate gate(3);  // both calls and the test
  std::vector<Job> jobs(2);
  std::atomic<int> finished{0};
  for (Job& j : jobs) {
    j.body = [&] {
      gate.arrive_and_wait();
      ++finished;
    };
    pool.submit(j);
  }
  std::thread opener([&] { gate.arrive_and_wait(); });
  pool.stop();  // joins: returns only after both calls ran to their end
  opener.join();
  EXPECT_EQ(finished.load(), 2);
}

}  // namespace
}  // namespace cppicorn::worker
