// Interoperability: a real WebSocket client (python3-websockets) completes the handshake and
// exchanges messages with a small C++ echo server built only from src/ws and src/http, over
// a real TCP socket. This proves the module against an independent implementation before
// the ASGI worker exists.
//
// The server answers each connection in turn: the 101 with the chosen subprotocol, echo of
// every data message (header and payload in one writev), pong for each ping, and the closing
// handshake through CloseHandshake; a text message "close please" makes it close first.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdio>
#include <string>

#include "http/parser.h"
#include "util/unique_fd.h"
#include "ws/close.h"
#include "ws/frame.h"
#include "ws/handshake.h"

namespace cppicorn::ws {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr int kTimeoutMs = 10000;

bool wait_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, kTimeoutMs) == 1;
}

// Writes header and payload with writev, as the worker will.
bool send_frame(int fd, Opcode op, std::string_view payload) {
  const FrameHeader h = frame_header(op, payload.size());
  iovec iov[2] = {{const_cast<char*>(h.bytes.data()), h.size},
                  {const_cast<char*>(payload.data()), payload.size()}};
  size_t left = h.size + payload.size();
  int first = 0;
  while (left > 0) {
    const ssize_t n = ::writev(fd, iov + first, 2 - first);
    if (n <= 0) return false;
    left -= static_cast<size_t>(n);
    for (auto done = static_cast<size_t>(n); done > 0 && first < 2;) {
      const size_t step = std::min(done, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + step;
      iov[first].iov_len -= step;
      done -= step;
      if (iov[first].iov_len == 0) ++first;
    }
  }
  return true;
}

class EchoConnection : public FrameVisitor {
 public:
  explicit EchoConnection(int fd) : fd_(fd) {}

  void on_data(Opcode type, std::string_view piece, bool last) override {
    message_.append(piece);
    if (!last) return;
    if (type == Opcode::kText && message_ == "close please") {
      if (closing_.start(close_code::kGoingAway)) {
        send_frame(fd_, Opcode::kClose, close_payload(close_code::kGoingAway, "going away").view());
      }
    } else {
      send_frame(fd_, type, message_);
    }
    message_.clear();
  }
  void on_ping(std::string_view payload) override { send_frame(fd_, Opcode::kPong, payload); }
  void on_pong(std::string_view) override {}
  void on_close(uint16_t code, std::string_view reason) override {
    if (auto echo = closing_.received(code)) {
      send_frame(fd_, Opcode::kClose, close_payload(*echo, reason).view());
    }
  }

  // Handshake, then frames until the closing handshake is done. Returns "" or what failed.
  std::string serve() {
    std::string buf;
    http::RequestParser parser{http::Limits{}};
    http::Request req;
    http::ParseResult head;
    while ((head = parser.parse(buf, req)).status == http::ParseResult::kIncomplete) {
      if (!read_more(buf)) return "no complete request head";
    }
    if (head.status == http::ParseResult::kError) return std::string(head.reason);
    Offer offer;
    http::DateCache date;
    std::string out;
    if (HandshakeError e = check_handshake(req, offer)) return std::string(e.reason);
    render_accept(offer.key, offer.offers("echo.v1") ? "echo.v1" : "", "", "cppicorn-test", date,
                  out);
    if (::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      return "send of the 101 failed";
    }
    buf.erase(0, head.consumed);
    FrameDecoder decoder;
    while (!closing_.finished()) {
      const FrameDecoder::Result r = decoder.decode(buf.data(), buf.size(), *this);
      buf.erase(0, r.consumed);
      if (r.status == FrameDecoder::Result::kError) return std::string(r.reason);
      if (closing_.finished()) break;
      if (!read_more(buf)) return "connection ended before the closing handshake";
    }
    return "";
  }

 private:
  bool read_more(std::string& buf) {
    if (!wait_readable(fd_)) return false;
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string message_;
  CloseHandshake closing_;
};

TEST(Interop, PythonWebsocketsClient) {
  if (std::system((std::string(kPython) + " -c 'import websockets' 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "python3-websockets is not installed (tools/install-deps --test)";
  }
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);

  const std::string cmd = std::string(kPython) + " " + CPPICORN_SOURCE_DIR +
                          "/tests/unit/ws/websockets_client.py " +
                          std::to_string(ntohs(addr.sin_port)) + " 2>&1";
  FILE* client = ::popen(cmd.c_str(), "r");
  ASSERT_NE(client, nullptr);
  for (int session = 0; session < 2; ++session) {
    if (!wait_readable(listener.get())) {
      ADD_FAILURE() << "no connection " << session;
      break;
    }
    UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(conn.valid());
    EXPECT_EQ(EchoConnection(conn.get()).serve(), "") << "session " << session;
  }  // the server closes the TCP connection first, after the closing handshake
  std::string output;
  char line[512];
  while (std::fgets(line, sizeof line, client) != nullptr) output += line;
  const int status = ::pclose(client);
  EXPECT_EQ(output, "ok\n");
  EXPECT_EQ(status, 0);
}

}  // namespace
}  // namespace cppicorn::ws
