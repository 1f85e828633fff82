// Completions (completions.h): the done queue and the eventfd that wakes the loop for it.
#include "worker/completions.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "worker/fork_guard.h"

namespace cppicorn::worker {

Completions::Completions(event_base* base) : wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_fd_) throw std::runtime_error(std::string("eventfd: ") + strerror(errno));
  ForkGuard::add(wake_fd_.get());  // a child the app forks does not keep it
  wake_ev_ = event_new(base, wake_fd_.get(), EV_READ | EV_PERSIST, on_wake, this);
  event_add(wake_ev_, nullptr);
}

Completions::~Completions() {
  if (wake_ev_ != nullptr) event_free(wake_ev_);
  ForkGuard::remove(wake_fd_.get());
}

void Completions::push(Task& task) {
  Task* top = top_.load(std::memory_order_relaxed);
  do {
    task.next_ = top;
  } while (!top_.compare_exchange_weak(top, &task, std::memory_order_release,
                                       std::memory_order_relaxed));
  // Only the first completion since the loop's last drain wakes it: the loop reads the
  // eventfd before it takes the stack, so nothing pushed after that can be missed.
  if (top == nullptr) {
    uint64_t one = 1;
    while (::write(wake_fd_.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
}

void Completions::on_wake(evutil_socket_t, short, void* self) {
  static_cast<Completions*>(self)->drain();
}

void Completions::drain() {
  uint64_t count;
  if (::read(wake_fd_.get(), &count, sizeof count) < 0 && errno != EAGAIN) {
    spdlog::error("completion wake-up: {}", strerror(errno));
  }
  Task* task = nullptr;  // the stack, reversed into push order
  for (Task* t = top_.exchange(nullptr, std::memory_order_acquire); t != nullptr;) {
    Task* below = t->next_;
    t->next_ = task;
    task = t;
    t = below;
  }
  while (task != nullptr) {
    Task* next = task->next_;  // complete() may hand the task over again
    task->complete();
    task = next;
  }
}

}  // namespace cppicorn::worker
