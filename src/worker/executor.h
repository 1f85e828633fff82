// The executor seam: where a worker runs an application call. The connection engine (the
// libevent loop: accept, parse, pre-read, write, keep-alive) is the same for every worker
// class; only this differs. A Connection hands over a complete request as a Task and resumes
// when the executor calls complete() on the loop thread.
//   sync:    InlineExecutor, the call runs right here on the loop thread (no queue, no
//            wake-up, no extra syscall or allocation: exactly the pre-executor path).
//   gthread: ThreadPool (thread_pool.h), a fixed pool of threads fed from the loop.
//   asgi:    AsgiExecutor (asgi_executor.h), one thread running the app's asyncio loop,
//            with many calls in flight on it; a call ends when its response is complete.
#pragma once

#include <string>
#include <string_view>

#include "app/app.h"
#include "scoreboard/scoreboard.h"

namespace cppicorn::worker {

// One application call handed to an executor. Between submit() and complete() the task (the
// Connection) belongs to the executor's thread alone; the loop does not touch it.
class Task : public app::Call {
 public:
  // The app call, on the executor's thread. May block (body reads, streamed writes).
  virtual void run() = 0;
  // The end of a call an app with its own loop made (instead of run()), on its thread: what
  // run() does after the app returned (the streamed body's last chunk).
  virtual void end_call(bool /*ok*/) {}
  // How long run() took, on the executor's thread right after it (the request-duration
  // histogram; the executor's own clock reads, so measuring costs nothing more).
  virtual void ran_for(int64_t /*us*/) {}
  // Back on the loop thread, after run() returned.
  virtual void complete() = 0;
  // On the loop thread, after the app's thread asked with Executor::poke (a WebSocket has
  // something to send, or was accepted). May come late, even after complete().
  virtual void poked() {}
  // What the call is, for the scoreboard and timeout messages ("GET / HTTP/1.1"); read by
  // the thread that owns the task.
  virtual std::string_view what() const = 0;

 protected:
  ~Task() = default;

 private:
  friend class ThreadPool;
  friend class Completions;
  friend class AsgiExecutor;
  Task* next_ = nullptr;        // intrusive queue link: queueing a task never allocates
  bool poke_queued_ = false;    // in AsgiExecutor's poke list (under its lock)
  bool notify_queued_ = false;  // in AsgiExecutor's woken list (under its lock)
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Loop thread: runs task.run() somewhere, then task.complete() on the loop thread.
  virtual void submit(Task& task) = 0;
  // Calls that can run at once (the worker accepts only while one more could start).
  virtual int capacity() const { return 1; }
  // When the oldest call now running began (monotonic ms; 0 when none, or when calls have
  // no time limit) and, in *what, what it is. Any thread.
  virtual int64_t oldest(std::string* /*what*/) const { return 0; }
  // WebSockets (asgi only). Loop thread: the app's loop should look at task's WebSocket
  // (it is in the woken list of its next take()). Any thread: task.poked() should run on
  // the loop thread soon. Each is queued once however often it is asked.
  virtual void notify(Task& /*task*/) {}
  virtual void poke(Task& /*task*/) {}
  // Loop thread, once a second (the worker's tick): an executor whose thread runs a loop of
  // its own asks it to come back (asgi), so that oldest() sees a loop that no longer does.
  virtual void tick() {}
};

// sync: the call runs inline on the loop thread, stamped in the worker's scoreboard slot so
// the arbiter's timeout (a heartbeat the busy loop no longer beats) can name it.
class InlineExecutor final : public Executor {
 public:
  explicit InlineExecutor(ScoreboardSlot& slot) : slot_(slot) {}

  void submit(Task& task) override {
    slot_.set_request(task.what());
    const int64_t begin_us = monotonic_us();
    slot_.request_started_ms = begin_us / 1000;
    slot_.state = WorkerState::kBusy;
    task.run();
    const int64_t end_us = monotonic_us();
    slot_.request_started_ms = 0;
    slot_.heartbeat_ms = end_us / 1000;
    // A worker that began stopping during the call stays "stopping" (metrics, status).
    if (slot_.state.load(std::memory_order_relaxed) == WorkerState::kBusy)
      slot_.state = WorkerState::kIdle;
    task.ran_for(end_us - begin_us);
    task.complete();
  }

 private:
  ScoreboardSlot& slot_;
};

}  // namespace cppicorn::worker
