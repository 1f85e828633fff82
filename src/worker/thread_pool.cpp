// ThreadPool (thread_pool.h): the gthread executor's queues, threads and wake-ups.
#include "worker/thread_pool.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace cppicorn::worker {
namespace {

// The futex word is the atomic's own storage (std::atomic<uint32_t> is a plain 32-bit word
// on Linux); C++20's atomic wait() would spin and sched_yield() before it sleeps.
uint32_t* futex_word(std::atomic<uint32_t>& word) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  return reinterpret_cast<uint32_t*>(&word);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
}

void futex_wait(std::atomic<uint32_t>& word, uint32_t while_value) {
  syscall(SYS_futex, futex_word(word), FUTEX_WAIT_PRIVATE, while_value, nullptr, nullptr, 0);
}

void futex_wake_one(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, futex_word(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace

ThreadPool::ThreadPool(event_base* base, int threads, Hooks hooks)
    : count_(std::max(threads, 1)),
      hooks_(std::move(hooks)),
      slots_(new Slot[static_cast<size_t>(count_)]),
      handing_(static_cast<size_t>(count_)),
      flush_ev_(event_new(base, -1, 0, on_flush, this)),
      done_(base) {}

ThreadPool::~ThreadPool() {
  stop();
  event_free(flush_ev_);
}

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
  started_cv_.wait(lock, [&] { return started_ == count_; });
  if (start_error_.empty()) return true;
  *error = start_error_;
  lock.unlock();
  stop();
  return false;
}

void ThreadPool::stop() {
  size_t n;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    n = pair_ready_with_idle();  // tasks not yet handed out still run
    while (idle_ != nullptr) {   // the rest stop now; busy threads drain the queue first
      handing_[n++] = {idle_, nullptr};
      idle_ = idle_->next_idle;
    }
  }
  hand_out(n);
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
  // Wake threads once the loop has dispatched this iteration's events: the requests that
  // became ready together go out together, and a thread that finds more waiting takes it
  // without sleeping, so a burst costs a wake-up per thread, not one per request.
  if (!flush_pending_) {
    flush_pending_ = true;
    event_active(flush_ev_, EV_TIMEOUT, 0);
  }
}

void ThreadPool::on_flush(evutil_socket_t, short, void* self) {
  auto* pool = static_cast<ThreadPool*>(self);
  pool->flush_pending_ = false;
  size_t n;
  {
    std::lock_guard lock(pool->mu_);
    n = pool->pair_ready_with_idle();
  }
  pool->hand_out(n);  // outside the lock: a woken thread finds it free
}

size_t ThreadPool::pair_ready_with_idle() {
  size_t n = 0;
  while (idle_ != nullptr && ready_head_ != nullptr) {
    handing_[n++] = {idle_, ready_head_};
    idle_ = idle_->next_idle;
    ready_head_ = ready_head_->next_;
  }
  if (ready_head_ == nullptr) ready_tail_ = nullptr;
  return n;
}

void ThreadPool::hand_out(size_t n) {
  for (size_t i = 0; i < n; ++i) give(*handing_[i].first, handing_[i].second);
}

void ThreadPool::give(Slot& slot, Task* task) {
  slot.given = task;
  if (slot.wake.exchange(Slot::kGiven, std::memory_order_acq_rel) == Slot::kAsleep)
    futex_wake_one(slot.wake);
}

Task* ThreadPool::next_task(Slot& slot) {
  {
    std::lock_guard lock(mu_);
    if (Task* task = ready_head_; task != nullptr) {
      ready_head_ = task->next_;
      if (ready_head_ == nullptr) ready_tail_ = nullptr;
      return task;
    }
    if (stopping_) return nullptr;
    slot.next_idle = idle_;
    idle_ = &slot;
  }
  uint32_t awake = Slot::kAwake;
  if (slot.wake.compare_exchange_strong(awake, Slot::kAsleep, std::memory_order_acq_rel)) {
    do {
      futex_wait(slot.wake, Slot::kAsleep);
    } while (slot.wake.load(std::memory_order_acquire) != Slot::kGiven);
  }
  slot.wake.store(Slot::kAwake, std::memory_order_relaxed);
  return slot.given;  // nullptr: the pool stops
}

void ThreadPool::stamp(Slot& slot, const Task* task, int64_t begin_us) {
  std::lock_guard lock(slot.stamp_mu);
  if (task == nullptr) {
    slot.started_ms = 0;
    return;
  }
  std::string_view what = task->what();
  size_t n = std::min(what.size(), sizeof slot.what - 1);
  std::memcpy(slot.what, what.data(), n);
  slot.what[n] = '\0';
  slot.started_ms = begin_us / 1000;
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
  started_cv_.notify_all();
  if (!ok) return;  // start() sees the error and stops the others
  Slot& slot = slots_[static_cast<size_t>(index)];
  while (Task* task = next_task(slot)) {
    const int64_t begin_us = monotonic_us();
    stamp(slot, task, begin_us);
    task->run();
    stamp(slot, nullptr, 0);
    task->ran_for(monotonic_us() - begin_us);
    done_.push(*task);
  }
  if (hooks_.stop) hooks_.stop();
}

int64_t ThreadPool::oldest(std::string* what) const {
  int64_t oldest = 0;
  for (int i = 0; i < count_; ++i) {
    const Slot& s = slots_[static_cast<size_t>(i)];
    std::lock_guard lock(s.stamp_mu);
    if (s.started_ms != 0 && (oldest == 0 || s.started_ms < oldest)) {
      oldest = s.started_ms;
      if (what != nullptr) *what = s.what;
    }
  }
  return oldest;
}

}  // namespace cppicorn::worker
