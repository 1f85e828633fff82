// AcceptWatch: tells a worker's libevent loop when a listening socket has a connection to
// accept, waking one idle worker per connection rather than all of them.
//
// Every worker watches the same listening sockets. Registered the ordinary way, each new
// connection wakes every idle worker; one accepts and the rest pay an epoll_wait and a
// failed accept4 each (bench/syscalls: ~0.5 failed accept4 and ~1 extra epoll_wait per
// request with `Connection: close`). Linux's EPOLLEXCLUSIVE wakes one waiter, but libevent
// 2.1 cannot set it, and a nested epoll set does not carry it. So, on the epoll backend,
// the listeners go into libevent's own epoll set directly with EPOLLEXCLUSIVE, tagged
// with the fd of a never-readable eventfd that libevent watches: the wake-up reaches
// libevent as that eventfd's event. Elsewhere (another backend, an old kernel) it falls
// back to plain libevent events.
#pragma once

#include <event2/event.h>

#include <vector>

#include "util/unique_fd.h"

namespace cppicorn::worker {

class AcceptWatch {
 public:
  using Callback = void (*)(int listen_fd, void* arg);

  // Creates the loop a worker runs, and sets *epoll_fd to the epoll set libevent made for
  // it (libevent 2.1 has no accessor: it is the one eventpoll fd the creation added), or
  // to -1 when there is none (another backend). *loop_fds gets every fd the creation opened
  // (the epoll set, the signal pipe): the loop's, which a forked child must not keep.
  static event_base* new_event_base(int* epoll_fd, std::vector<int>* loop_fds);

  // Watches listen_fds (not owned) on base, which must outlive it; epoll_fd is what
  // new_event_base() reported. Its eventfds are marked for ForkGuard. on_ready runs in the loop
  // whenever a listener has a connection waiting, while enabled.
  AcceptWatch(event_base* base, int epoll_fd, const std::vector<int>& listen_fds, Callback on_ready,
              void* arg);
  ~AcceptWatch();
  AcceptWatch(const AcceptWatch&) = delete;
  AcceptWatch& operator=(const AcceptWatch&) = delete;

  void enable(bool on);
  // True when the listeners are registered with EPOLLEXCLUSIVE (for the log and tests).
  bool exclusive() const { return exclusive_; }

 private:
  struct Watched {
    int listen_fd;
    UniqueFd tag;  // eventfd libevent watches for it (exclusive mode only)
    event* ev = nullptr;
    AcceptWatch* owner;
  };
  static void on_event(evutil_socket_t, short, void* watched);
  // Switches to plain libevent events on the listeners (disabled; enable() adds them).
  void fall_back();

  event_base* base_;
  int epoll_fd_;  // libevent's, or -1 when exclusive mode is not possible
  bool exclusive_ = false;
  bool enabled_ = false;
  Callback on_ready_;
  void* arg_;
  std::vector<Watched> watched_;
};

}  // namespace cppicorn::worker
