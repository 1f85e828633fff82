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

std::vector<Listener> bind_all(const std::vector<std::string>& binds) {
  std::string error;
  std::vector<std::string> warnings;
  auto listeners = open_listeners(binds, {}, ListenOptions{}, &error, &warnings);
  EXPECT_TRUE(listeners) << error;
  return listeners ? std::move(*listeners) : std::vector<Listener>{};
}

TEST(Listener, WhichListenersSpeakTls) {
  // gunicorn: with a certfile every bind is TLS.
  std::vector<Listener> all = bind_all({"127.0.0.1:0", "127.0.0.1:0"});
  EXPECT_EQ(resolve_tls(all, true, false), "");
  EXPECT_TRUE(all[0].tls && all[1].tls);
  EXPECT_TRUE(all[0].url.starts_with("https://127.0.0.1:"));
  // Side by side: once one bind says https://, the unmarked ones stay plain.
  std::vector<Listener> mixed =
      bind_all({"https://127.0.0.1:0", "127.0.0.1:0", "http://127.0.0.1:0"});
  EXPECT_EQ(resolve_tls(mixed, true, false), "");
  EXPECT_TRUE(mixed[0].tls);
  EXPECT_FALSE(mixed[1].tls);
  EXPECT_FALSE(mixed[2].tls);
  EXPECT_TRUE(mixed[1].url.starts_with("http://"));
  // Without a certfile nothing is TLS, and an https:// bind is an error.
  std::vector<Listener> plain = bind_all({"127.0.0.1:0"});
  EXPECT_EQ(resolve_tls(plain, false, false), "");
  EXPECT_FALSE(plain[0].tls);
  std::vector<Listener> orphan = bind_all({"https://127.0.0.1:0"});
  EXPECT_EQ(resolve_tls(orphan, false, false),
            "listener https://127.0.0.1:0 is https but no certfile is set");
  EXPECT_EQ(resolve_tls(all, true, true), "");  // the PROXY header comes before TLS
}

}  // namespace
}  // namespace cppicorn::net
