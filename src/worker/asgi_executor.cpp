// AsgiExecutor (asgi_executor.h): the inbox, the app's loop thread and its start and stop.
#include "worker/asgi_executor.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
      done_(base) {
  if (!wake_fd_) throw std::runtime_error(std::string("eventfd: ") + strerror(errno));
  ForkGuard::add(wake_fd_.get());
}

AsgiExecutor::~AsgiExecutor() {
  stop();
  ForkGuard::remove(wake_fd_.get());
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
  }
  wake(wake_fd_.get());
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

void AsgiExecutor::submit(Task& task) {
  bool was_empty;
  {
    std::lock_guard lock(mu_);
    was_empty = inbox_.empty();
    inbox_.push_back(&task);
  }
  if (was_empty) wake(wake_fd_.get());
}

bool AsgiExecutor::take(std::vector<app::Call*>* calls) {
  // The eventfd is read before the inbox is taken, so nothing submitted after can be missed.
  uint64_t count;
  if (::read(wake_fd_.get(), &count, sizeof count) < 0) {
    // EAGAIN: woken for calls an earlier take() already had
  }
  bool stopping;
  {
    std::lock_guard lock(mu_);
    taking_.swap(inbox_);
    stopping = stopping_;
  }
  for (Task* t : taking_) calls->push_back(t);
  taking_.clear();
  return !stopping;
}

void AsgiExecutor::done(app::Call& call, bool ok) {
  auto& task = static_cast<Task&>(call);
  task.end_call(ok);
  done_.push(task);
}

}  // namespace cppicorn::worker
