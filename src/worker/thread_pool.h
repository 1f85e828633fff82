// ThreadPool: the gthread executor, a fixed pool of threads that run application calls for
// a worker whose libevent loop stays the only thread that polls.
//
//   loop:   submit(task) -> ready queue (mutex + condvar) -> a free thread runs task.run()
//   thread: task.run() -> Completions (completions.h): the loop wakes once per burst
//   loop:   task.complete() for each, in order
//
// Pool threads make no libevent calls (so libevent needs no locking), block every signal
// (the loop takes them), and each stamps when its current call began, so the worker can
// tell the arbiter about a call running past `timeout`.
#pragma once

#include <event2/event.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "worker/completions.h"
#include "worker/executor.h"

namespace cppicorn::worker {

class ThreadPool final : public Executor {
 public:
  // Run on each pool thread: start before it takes any task (false with *error fails
  // start()), stop when it exits (only on threads whose start succeeded).
  struct Hooks {
    std::function<bool(int index, std::string* error)> start;
    std::function<void()> stop;
  };

  // Completions are delivered on base's loop thread; base must outlive the pool.
  ThreadPool(event_base* base, int threads, Hooks hooks);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Starts the threads and waits until each ran its start hook. False (with *error, the
  // first failure) when one failed; the pool is then stopped.
  bool start(std::string* error);
  // Lets the threads finish every task submitted so far, then joins them (their stop hooks
  // run). Completions not yet drained stay undelivered. Idempotent.
  void stop();

  // Loop thread.
  void submit(Task& task) override;
  int capacity() const override { return static_cast<int>(threads_.size()); }
  int64_t oldest(std::string* what) const override;

 private:
  // Per thread: the current call, written under mu_ when the thread takes a task.
  struct Stamp {
    std::atomic<int64_t> started_ms{0};
    char what[120] = {};
  };

  void thread_main(int index);

  const int count_;
  Hooks hooks_;
  mutable std::mutex mu_;  // guards the ready queue, stopping_, the start tally and stamps
  std::condition_variable cv_;
  Task* ready_head_ = nullptr;
  Task* ready_tail_ = nullptr;
  bool stopping_ = false;
  int started_ = 0;  // threads that ran their start hook
  std::string start_error_;
  std::unique_ptr<Stamp[]> stamps_;

  Completions done_;
  std::vector<std::thread> threads_;
};

}  // namespace cppicorn::worker
