// Socket options on the TCP listeners cppicorn binds, read back from the kernel: no Nagle
// (accepted sockets inherit it, so it costs nothing per connection) and TCP_DEFER_ACCEPT
// only when defer_accept asks for it.
#include "net/listener.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace cppicorn::net {
namespace {

int tcp_option(int fd, int option) {
  int value = -1;
  socklen_t len = sizeof value;
  EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, option, &value, &len), 0);
  return value;
}

std::vector<Listener> bind_loopback(int defer_accept) {
  std::string error;
  std::vector<std::string> warnings;
  auto listeners = open_listeners({"127.0.0.1:0"}, {}, ListenOptions{.defer_accept = defer_accept},
                                  &error, &warnings);
  EXPECT_TRUE(listeners) << error;
  return listeners ? std::move(*listeners) : std::vector<Listener>{};
}

TEST(Listener, BoundTcpSocketsHaveNoNagleAndDeferAcceptWhenAsked) {
  std::vector<Listener> deferred = bind_loopback(5);
  ASSERT_EQ(deferred.size(), 1u);
  EXPECT_EQ(tcp_option(deferred[0].fd.get(), TCP_NODELAY), 1);
  // The kernel keeps SYN-ACK retransmissions, so it reports its own rounding (>= 5 s).
  EXPECT_GE(tcp_option(deferred[0].fd.get(), TCP_DEFER_ACCEPT), 5);

  std::vector<Listener> immediate = bind_loopback(0);
  ASSERT_EQ(immediate.size(), 1u);
  EXPECT_EQ(tcp_option(immediate[0].fd.get(), TCP_NODELAY), 1);
  EXPECT_EQ(tcp_option(immediate[0].fd.get(), TCP_DEFER_ACCEPT), 0);
}

}  // namespace
}  // namespace cppicorn::net
