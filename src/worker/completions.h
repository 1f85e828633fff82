// Completions: calls that ended on another thread, handed back to the worker's loop. Any
// thread push()es a finished Task onto a lock-free stack; the loop's eventfd is written only
// when the stack was empty, so a burst of completions costs the loop one wake-up, which then
// takes the whole stack at once and runs task.complete() for each, in push order, on the
// loop thread. No lock: a finishing thread never waits for the loop or another thread.
// Used by the gthread pool and the asgi executor; neither makes a libevent call off the
// loop thread.
#pragma once

#include <event2/event.h>

#include <atomic>

#include "util/unique_fd.h"
#include "worker/executor.h"

namespace cppicorn::worker {

class Completions {
 public:
  // Completions are delivered on base's loop thread; base must outlive this.
  explicit Completions(event_base* base);
  ~Completions();
  Completions(const Completions&) = delete;
  Completions& operator=(const Completions&) = delete;

  // Any thread: task is done; its complete() runs on the loop thread soon.
  void push(Task& task);

 private:
  static void on_wake(evutil_socket_t fd, short what, void* self);
  void drain();

  std::atomic<Task*> top_{nullptr};  // most recently pushed first
  UniqueFd wake_fd_;                 // eventfd: completions are waiting
  event* wake_ev_ = nullptr;
};

}  // namespace cppicorn::worker
