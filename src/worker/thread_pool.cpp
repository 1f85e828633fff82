// ThreadPool (thread_pool.h): the gthread executor's queues, threads and wake-ups.
#include "worker/thread_pool.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace cppicorn::worker {

ThreadPool::ThreadPool(event_base* base, int threads, Hooks hooks)
    : count_(std::max(threads, 1)),
      hooks_(std::move(hooks)),
      stamps_(new Stamp[static_cast<size_t>(count_)]),
      done_(base) {}

ThreadPool::~ThreadPool() { stop(); }

bool ThreadPool::start(std::string* error) {
  // Threads keep the loop thread's signal mask (the worker starts the pool once its
  // handlers are in place and unblocked). They must not block signals: a process the app
  // spawns from a pool thread (subprocess, multiprocessing's spawn and forkserver: vfork
  // paths that skip ForkGuard's atfork handler) inherits the thread's mask, and with TERM
  // blocked Pool.terminate() hangs. A signal that lands on a pool thread still reaches the
  // loop: libevent's handlers are process-wide and only write to its signal pipe.
  threads_.reserve(static_cast<size_t>(count_));
  for (int i = 0; i < count_; ++i) threads_.emplace_back(&ThreadPool::thread_main, this, i);
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return started_ == count_; });
  if (start_error_.empty()) return true;
  *error = start_error_;
  lock.unlock();
  stop();
  return false;
}

void ThreadPool::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void ThreadPool::submit(Task& task) {
  task.next_ = nullptr;
  {
    std::lock_guard lock(mu_);
    if (ready_tail_ != nullptr) {
      ready_tail_->next_ = &task;
    } else {
      ready_head_ = &task;
    }
    ready_tail_ = &task;
  }
  cv_.notify_one();  // no syscall when no thread waits
}

void ThreadPool::thread_main(int index) {
  // Named for top -H, ps -L and gdb (and the tests, which tell pool threads from others
  // such as a sanitizer's): "cppicorn-t0", "cppicorn-t1", ... (at most 15 characters).
  char name[16];
  std::snprintf(name, sizeof name, "cppicorn-t%d", index);
  pthread_setname_np(pthread_self(), name);
  std::string error;
  bool ok = !hooks_.start || hooks_.start(index, &error);
  {
    std::lock_guard lock(mu_);
    if (!ok && start_error_.empty()) start_error_ = error.empty() ? "thread start failed" : error;
    ++started_;
  }
  cv_.notify_all();
  Stamp& stamp = stamps_[static_cast<size_t>(index)];
  while (ok) {
    Task* task;
    int64_t begin_us;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return ready_head_ != nullptr || stopping_ || !start_error_.empty(); });
      if (ready_head_ == nullptr) break;  // stopping, and nothing left to take
      task = ready_head_;
      ready_head_ = task->next_;
      if (ready_head_ == nullptr) ready_tail_ = nullptr;
      std::string_view what = task->what();
      size_t n = std::min(what.size(), sizeof stamp.what - 1);
      std::memcpy(stamp.what, what.data(), n);
      stamp.what[n] = '\0';
      begin_us = monotonic_us();
      stamp.started_ms.store(begin_us / 1000, std::memory_order_relaxed);
    }
    task->run();
    stamp.started_ms.store(0, std::memory_order_relaxed);
    task->ran_for(monotonic_us() - begin_us);
    done_.push(*task);
  }
  if (ok && hooks_.stop) hooks_.stop();
}

int64_t ThreadPool::oldest(std::string* what) const {
  std::lock_guard lock(mu_);
  int64_t oldest = 0;
  for (int i = 0; i < count_; ++i) {
    const Stamp& s = stamps_[static_cast<size_t>(i)];
    int64_t started = s.started_ms.load(std::memory_order_relaxed);
    if (started != 0 && (oldest == 0 || started < oldest)) {
      oldest = started;
      if (what != nullptr) *what = s.what;
    }
  }
  return oldest;
}

}  // namespace cppicorn::worker
