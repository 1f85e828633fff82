// AsgiExecutor: the asgi worker class's executor. One thread runs the app's own event loop
// (App::run_loop: asyncio for an ASGI app) with many calls in flight on it at once.
//
//   loop:   submit(task) -> inbox (mutex) -> the eventfd the app's loop watches, written only
//           when the inbox was empty (a burst of requests costs one wake-up)
//   app:    take() the inbox -> a task per call on its loop ... done(call) when its response
//           is complete -> Completions (completions.h) -> task.complete() on the loop
//
// The libevent loop stays the only thread that polls client sockets between calls; the
// app's thread owns a connection from take() to done(), as a gthread pool thread does. A
// WebSocket is the exception: once accepted, the loop owns the connection again and the
// two threads meet only in its session (worker/ws_session.h), through notify() (loop ->
// app: the woken list of take()) and poke() (app -> loop: poked() on the loop thread).
#pragma once

#include <event2/event.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/app.h"
#include "util/unique_fd.h"
#include "worker/completions.h"
#include "worker/executor.h"

namespace cppicorn::worker {

class AsgiExecutor final : public Executor, public app::CallQueue {
 public:
  // Completions are delivered on base's loop thread; base and app must outlive this.
  // capacity: calls in flight at most (worker_connections).
  AsgiExecutor(event_base* base, app::App& app, int capacity);
  ~AsgiExecutor() override;
  AsgiExecutor(const AsgiExecutor&) = delete;
  AsgiExecutor& operator=(const AsgiExecutor&) = delete;

  // Starts the app's thread and waits until its loop serves (lifespan startup done). False
  // with *error (the app's message) when it failed; the thread is then joined.
  bool start(std::string* error);
  // Tells the app's loop to stop (it shuts down, then run_loop returns) and joins it.
  // Idempotent.
  void stop();

  // Executor (loop thread).
  void submit(Task& task) override;
  int capacity() const override { return capacity_; }
  void notify(Task& task) override;
  void poke(Task& task) override;  // any thread
  // The app's loop must answer a wake-up within the worker's timeout; one that does not (a
  // coroutine that blocks: CPU-bound code, time.sleep) is what oldest() reports as stuck.
  void tick() override;
  int64_t oldest(std::string* what) const override;

  // app::CallQueue (the app's thread).
  int wake_fd() const override { return wake_fd_.get(); }
  bool take(std::vector<app::Call*>* calls, std::vector<app::Call*>* woken) override;
  void done(app::Call& call, bool ok) override;
  void started(bool ok, const std::string& error) override;
  void running(app::Call& call) override;

 private:
  void thread_main();
  void wake_app();  // with mu_ held: the eventfd, once per take()
  static void on_poke(evutil_socket_t fd, short what, void* self);

  app::App& app_;
  const int capacity_;
  mutable std::mutex mu_;  // guards inbox_, the wake-up, running_, stopping_, the start state
  std::condition_variable cv_;
  std::vector<Task*> inbox_, taking_;  // swapped, so neither reallocates for long
  std::vector<Task*> woken_, waking_;  // WebSockets with news for the app (notify)
  bool wake_pending_ = false;          // the eventfd was written since the last take()
  int64_t wake_since_ms_ = 0;          // when it was (monotonic): how long the loop is away
  char running_[128] = {};             // what the last call that started is (running())
  bool stopping_ = false;
  bool start_reported_ = false;
  bool start_ok_ = false;
  std::string start_error_;
  UniqueFd wake_fd_;  // eventfd: calls wait in the inbox (or stopping_)
  Completions done_;
  // poke(): tasks whose poked() runs on the loop thread, woken through poke_fd_.
  std::mutex poke_mu_;
  std::vector<Task*> pokes_, poking_;
  UniqueFd poke_fd_;
  event* poke_ev_ = nullptr;
  std::thread thread_;
};

}  // namespace cppicorn::worker
