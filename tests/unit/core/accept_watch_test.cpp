// AcceptWatch on real sockets and a real libevent loop: each listener's readiness reaches
// the callback as that listener, in exclusive (EPOLLEXCLUSIVE) and fallback mode alike,
// and nothing arrives while disabled.
#include "worker/accept_watch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "util/unique_fd.h"

namespace cppicorn::worker {
namespace {

UniqueFd listen_on_loopback(sockaddr_in* addr) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  *addr = {};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof *addr;
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(addr), len), 0);
  EXPECT_EQ(listen(fd.get(), 16), 0);
  EXPECT_EQ(getsockname(fd.get(), reinterpret_cast<sockaddr*>(addr), &len), 0);
  return fd;
}

UniqueFd connect_to(const sockaddr_in& addr) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

struct Loop {
  int epoll_fd = -1;
  std::vector<int> loop_fds;
  event_base* base = AcceptWatch::new_event_base(&epoll_fd, &loop_fds);
  std::vector<int> ready;  // listen fds the callback saw, in order
  ~Loop() { event_base_free(base); }

  static void on_ready(int listen_fd, void* self) {
    auto* loop = static_cast<Loop*>(self);
    loop->ready.push_back(listen_fd);
    UniqueFd conn(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));  // consume it
  }
  // Runs the loop until at least one event fired (or 10 s passed: a failure, not a wait).
  void run_until_event() {
    timeval limit{10, 0};
    event_base_loopexit(base, &limit);
    event_base_loop(base, EVLOOP_ONCE);
  }
  // Runs whatever is ready right now, without waiting.
  void run_ready() { event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK); }
};

class AcceptWatchTest : public ::testing::TestWithParam<bool> {};

TEST_P(AcceptWatchTest, EachListenerReachesTheCallbackAsItself) {
  const bool exclusive = GetParam();
  Loop loop;
  ASSERT_GE(loop.epoll_fd, 0) << "libevent's epoll set was not found";
  sockaddr_in a_addr{};
  sockaddr_in b_addr{};
  UniqueFd a = listen_on_loopback(&a_addr);
  UniqueFd b = listen_on_loopback(&b_addr);
  {
    AcceptWatch watch(loop.base, exclusive ? loop.epoll_fd : -1, {a.get(), b.get()}, Loop::on_ready,
                      &loop);
    watch.enable(true);
    EXPECT_EQ(watch.exclusive(), exclusive);

    UniqueFd c1 = connect_to(b_addr);
    loop.run_until_event();
    EXPECT_EQ(loop.ready, std::vector<int>{b.get()});
    UniqueFd c2 = connect_to(a_addr);
    loop.run_until_event();
    EXPECT_EQ(loop.ready, (std::vector<int>{b.get(), a.get()}));

    watch.enable(false);
    UniqueFd c3 = connect_to(a_addr);
    loop.run_ready();
    EXPECT_EQ(loop.ready.size(), 2u) << "a disabled watch reported a connection";
    watch.enable(true);
    loop.run_until_event();
    EXPECT_EQ(loop.ready, (std::vector<int>{b.get(), a.get(), a.get()}));
  }
  // Destroyed: the listeners are out of the loop's epoll set again.
  UniqueFd c4 = connect_to(a_addr);
  loop.run_ready();
  EXPECT_EQ(loop.ready.size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Modes, AcceptWatchTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Exclusive" : "Fallback"; });

// Every fd libevent opened for the loop is reported (the worker marks them for ForkGuard):
// the epoll set and both ends of the signal pipe, each one open.
TEST(AcceptWatchLoop, ReportsTheFdsTheLoopOpened) {
  Loop loop;
  ASSERT_NE(loop.base, nullptr);
  ASSERT_GE(loop.epoll_fd, 0);
  EXPECT_NE(std::find(loop.loop_fds.begin(), loop.loop_fds.end(), loop.epoll_fd),
            loop.loop_fds.end());
  EXPECT_GE(loop.loop_fds.size(), 3u);
  for (int fd : loop.loop_fds) EXPECT_GE(fcntl(fd, F_GETFD), 0) << fd;
}

}  // namespace
}  // namespace cppicorn::worker
