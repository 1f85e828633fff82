// AsgiExecutor (asgi_executor.h): the inbox, the app's loop thread and its start and stop.
#include "worker/asgi_executor.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "worker/fork_guard.h"

namespace cppicorn::worker {
namespace {

void wake(int fd) {
  uint64_t one = 1;
  while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

}  // namespace

AsgiExecutor::AsgiExecutor(event_base* base, app::App& app, int capacity)
    : app_(app),
      capacity_(capacity),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      done_(base),
      poke_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_fd_ || !poke_fd_) {
    throw std::runtime_error(std::string("eventfd: ") + strerror(errno));
  }
  ForkGuard::add(wake_fd_.get());
  ForkGuard::add(poke_fd_.get());
  poke_ev_ = event_new(base, poke_fd_.get(), EV_READ | EV_PERSIST, on_poke, this);
  event_add(poke_ev_, nullptr);
}

AsgiExecutor::~AsgiExecutor() {
  stop();
  if (poke_ev_ != nullptr) event_free(poke_ev_);
  ForkGuard::remove(wake_fd_.get());
  ForkGuard::remove(poke_fd_.get());
}

bool AsgiExecutor::start(std::string* error) {
  // The thread keeps the loop thread's (empty) signal mask, as pool threads do (see
  // ThreadPool::start): processes the app spawns from it must not inherit blocked signals.
  thread_ = std::thread(&AsgiExecutor::thread_main, this);
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return start_reported_; });
  if (start_ok_) return true;
  *error = start_error_.empty() ? "the ASGI event loop failed to start" : start_error_;
  lock.unlock();
  stop();
  return false;
}

void AsgiExecutor::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_app();
  }
  thread_.join();
}

void AsgiExecutor::thread_main() {
  pthread_setname_np(pthread_self(), "cppicorn-asgi");
  app_.run_loop(*this);
  // A loop that ended without a word (it cannot have served) must not leave start() waiting.
  started(false, "the ASGI event loop ended before it served");
}

void AsgiExecutor::started(bool ok, const std::string& error) {
  {
    std::lock_guard lock(mu_);
    if (start_reported_) return;
    start_reported_ = true;
    start_ok_ = ok;
    start_error_ = error;
  }
  cv_.notify_all();
}

// The eventfd is written once per take(): a burst of requests and WebSocket events costs
// the app's loop one wake-up. take() reads it before it takes the lists, so nothing queued
// after that can be missed.
void AsgiExecutor::wake_app() {
  if (wake_pending_) return;
  wake_pending_ = true;
  wake_since_ms_ = monotonic_ms();
  wake(wake_fd_.get());
}

void AsgiExecutor::tick() {
  std::lock_guard lock(mu_);
  if (start_ok_ && !stopping_) wake_app();  // (lifespan startup and shutdown may take long)
}

int64_t AsgiExecutor::oldest(std::string* what) const {
  std::lock_guard lock(mu_);
  // A healthy loop comes back within milliseconds: one that has not for a second is
  // reported, with when it was woken, and the arbiter's timeout runs from there.
  if (!wake_pending_ || stopping_ || !start_ok_ || monotonic_ms() - wake_since_ms_ < 1000) {
    return 0;
  }
  if (what != nullptr) {
    *what = running_[0] != '\0'
                ? std::string("the asyncio loop, blocked since ") + running_ + " started"
                : std::string("the asyncio loop, blocked");
  }
  return wake_since_ms_;
}

void AsgiExecutor::running(app::Call& call) {
  std::string_view what = static_cast<Task&>(call).what();
  std::lock_guard lock(mu_);
  const size_t n = std::min(what.size(), sizeof running_ - 1);
  std::memcpy(running_, what.data(), n);
  running_[n] = '\0';
}

void AsgiExecutor::submit(Task& task) {
  std::lock_guard lock(mu_);
  inbox_.push_back(&task);
  wake_app();
}

void AsgiExecutor::notify(Task& task) {
  std::lock_guard lock(mu_);
  if (task.notify_queued_) return;
  task.notify_queued_ = true;
  woken_.push_back(&task);
  wake_app();
}

bool AsgiExecutor::take(std::vector<app::Call*>* calls, std::vector<app::Call*>* woken) {
  uint64_t count;
  if (::read(wake_fd_.get(), &count, sizeof count) < 0) {
    // EAGAIN: woken for calls an earlier take() already had
  }
  bool stopping;
  {
    std::lock_guard lock(mu_);
    wake_pending_ = false;
    taking_.swap(inbox_);
    waking_.swap(woken_);
    for (Task* t : waking_) t->notify_queued_ = false;
    stopping = stopping_;
  }
  for (Task* t : taking_) calls->push_back(t);
  for (Task* t : waking_) woken->push_back(t);
  taking_.clear();
  waking_.clear();
  return !stopping;
}

void AsgiExecutor::poke(Task& task) {
  bool was_empty;
  {
    std::lock_guard lock(poke_mu_);
    if (task.poke_queued_) return;
    task.poke_queued_ = true;
    was_empty = pokes_.empty();
    pokes_.push_back(&task);
  }
  if (was_empty) wake(poke_fd_.get());
}

void AsgiExecutor::on_poke(evutil_socket_t, short, void* self) {
  auto* e = static_cast<AsgiExecutor*>(self);
  uint64_t count;
  if (::read(e->poke_fd_.get(), &count, sizeof count) < 0) {
    // EAGAIN: a poke an earlier drain already had
  }
  {
    std::lock_guard lock(e->poke_mu_);
    e->poking_.swap(e->pokes_);
    for (Task* t : e->poking_) t->poke_queued_ = false;
  }
  for (Task* t : e->poking_) t->poked();
  e->poking_.clear();
}

void AsgiExecutor::done(app::Call& call, bool ok) {
  auto& task = static_cast<Task&>(call);
  task.end_call(ok);
  done_.push(task);
}

}  // namespace cppicorn::worker
