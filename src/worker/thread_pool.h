// ThreadPool: the gthread executor, a fixed pool of threads that run application calls for
// a worker whose libevent loop stays the only thread that polls.
//
//   loop:   submit(task) -> the ready queue; once this loop iteration's events are
//           dispatched, its head goes to the idle threads (each woken by its own futex word)
//   thread: task.run() -> Completions (completions.h): the loop wakes once per burst;
//           then the next ready task, or idle again
//   loop:   task.complete() for each, in order
//
// A hand-over touches one short mutex (never held across a call or a wake-up) and wakes
// exactly the threads it gives work to, the most recently idle first (warm stack and
// cache); requests that arrive together cost a wake-up per thread, not one per request,
// and a thread that has not gone to sleep yet costs no syscall to wake. Pool threads
// make no libevent calls (so libevent needs no locking) and each stamps when its current
// call began, so the worker can tell the arbiter about a call running past `timeout`.
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
#include <utility>
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
  int capacity() const override { return count_; }
  int64_t oldest(std::string* what) const override;

 private:
  // One per thread. `wake` is the thread's futex word: kAwake while it runs or looks for
  // work, kAsleep once it waits in the kernel, kGiven when a task (or the stop) is in
  // `given`. The stamp (what the current call is, since when) has its own lock, taken once
  // per call by its thread and once per tick by oldest(): never contended on the hot path.
  struct Slot {
    static constexpr uint32_t kAwake = 0, kAsleep = 1, kGiven = 2;
    std::atomic<uint32_t> wake{kAwake};
    Task* given = nullptr;  // written by submit()/stop() under mu_ before wake = kGiven
    Slot* next_idle = nullptr;
    mutable std::mutex stamp_mu;
    int64_t started_ms = 0;
    char what[120] = {};
  };

  void thread_main(int index);
  Task* next_task(Slot& slot);  // the next ready task, or wait to be given one
  static void on_flush(evutil_socket_t, short, void* self);  // loop: hand out ready tasks
  size_t pair_ready_with_idle();             // under mu_: fills handing_, returns how many
  void hand_out(size_t n);                   // gives handing_[0..n), outside mu_
  static void give(Slot& slot, Task* task);  // task == nullptr: stop
  static void stamp(Slot& slot, const Task* task, int64_t begin_us);

  const int count_;
  Hooks hooks_;
  std::unique_ptr<Slot[]> slots_;

  std::mutex mu_;  // guards the ready queue, the idle stack, stopping_ and the start tally
  Task* ready_head_ = nullptr;
  Task* ready_tail_ = nullptr;
  Slot* idle_ = nullptr;  // threads waiting for work, most recently idle first
  bool stopping_ = false;
  std::vector<std::pair<Slot*, Task*>> handing_;  // one per thread: no allocation per flush
  event* flush_ev_;                               // activated by submit(), loop thread only
  bool flush_pending_ = false;
  std::condition_variable started_cv_;  // start(): every thread ran its start hook
  int started_ = 0;
  std::string start_error_;

  Completions done_;
  std::vector<std::thread> threads_;
};

}  // namespace cppicorn::worker
