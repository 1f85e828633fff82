// Unit tests of the server side: frame headers in each length form, close payloads (echo of
// a close without a code, codes that may not be sent, reasons cut on a character boundary),
// and the closing handshake helper. Encoded frames are read back by a client-side check.
#include <gtest/gtest.h>

#include <string>

#include "ws/close.h"
#include "ws/frame.h"

namespace cppicorn::ws {
namespace {

std::string hdr(Opcode op, uint64_t n, bool fin = true) {
  return std::string(frame_header(op, n, fin).view());
}

TEST(FrameEncoder, HeaderLengthForms) {
  EXPECT_EQ(hdr(Opcode::kText, 0), std::string("\x81\x00", 2));
  EXPECT_EQ(hdr(Opcode::kBinary, 125), "\x82\x7d");
  EXPECT_EQ(hdr(Opcode::kBinary, 126), std::string("\x82\x7e\x00\x7e", 4));
  EXPECT_EQ(hdr(Opcode::kBinary, 65535), "\x82\x7e\xff\xff");
  EXPECT_EQ(hdr(Opcode::kBinary, 65536), std::string("\x82\x7f\0\0\0\0\0\x01\0\0", 10));
  EXPECT_EQ(hdr(Opcode::kText, 0x0102030405060708ull), "\x81\x7f\x01\x02\x03\x04\x05\x06\x07\x08");
  EXPECT_EQ(hdr(Opcode::kText, 3, false), "\x01\x03");
  EXPECT_EQ(hdr(Opcode::kContinuation, 3), "\x80\x03");
  EXPECT_EQ(hdr(Opcode::kPing, 4), "\x89\x04");
  EXPECT_EQ(hdr(Opcode::kPong, 4), "\x8a\x04");
  EXPECT_EQ(hdr(Opcode::kClose, 2), "\x88\x02");
}

TEST(FrameEncoder, ClosePayload) {
  EXPECT_EQ(close_payload(1000).view(), "\x03\xe8");
  EXPECT_EQ(close_payload(1001, "going away").view(), "\x03\xe9going away");
  EXPECT_EQ(close_payload(close_code::kNoStatus).view(), "");  // echo of an empty close
  EXPECT_EQ(close_payload(4000, "app").view(),
            "\x0f\xa0"
            "app");
  // Codes that must never be sent become 1011.
  EXPECT_EQ(close_payload(1006).view(), "\x03\xf3");
  EXPECT_EQ(close_payload(0, "x").view(), "\x03\xf3x");
  // A long reason is cut to 123 bytes, not inside a character.
  EXPECT_EQ(close_payload(1000, std::string(200, 'r')).size, 125);
  const std::string euros = std::string(121, 'a') + "\xe2\x82\xac";  // 124 bytes
  EXPECT_EQ(close_payload(1000, euros).view(), "\x03\xe8" + std::string(121, 'a'));
  EXPECT_TRUE(valid_utf8(close_payload(1000, euros).view().substr(2)));
}

TEST(CloseHandshake, ServerFirst) {
  CloseHandshake c;
  EXPECT_TRUE(c.start(close_code::kGoingAway));
  EXPECT_FALSE(c.start(close_code::kNormal));  // only one close frame
  EXPECT_FALSE(c.finished());                  // wait for the peer's close
  EXPECT_EQ(c.received(1000), std::nullopt);   // no echo of an echo
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.server_first());
  EXPECT_EQ(c.sent_code(), close_code::kGoingAway);
  EXPECT_EQ(c.peer_code(), 1000);
}

TEST(CloseHandshake, PeerFirstIsEchoed) {
  CloseHandshake c;
  EXPECT_EQ(c.received(4001), std::optional<uint16_t>(4001));
  EXPECT_TRUE(c.finished());
  EXPECT_FALSE(c.server_first());
  EXPECT_FALSE(c.start(close_code::kNormal));  // the app's close after the echo is dropped
  EXPECT_EQ(c.peer_code(), 4001);
  // A close without a code is echoed without one, and reported as 1005.
  CloseHandshake e;
  EXPECT_EQ(e.received(close_code::kNoStatus), std::optional<uint16_t>(close_code::kNoStatus));
  EXPECT_EQ(close_payload(*CloseHandshake().received(close_code::kNoStatus)).size, 0);
  EXPECT_EQ(e.peer_code(), 1005);
}

TEST(CloseHandshake, FailureAndLoss) {
  CloseHandshake c;
  EXPECT_TRUE(c.fail(close_code::kProtocolError));
  EXPECT_TRUE(c.finished());  // no waiting for the peer
  EXPECT_EQ(c.sent_code(), 1002);
  EXPECT_EQ(c.peer_code(), close_code::kAbnormal);
  CloseHandshake sent;
  sent.start(1000);
  EXPECT_FALSE(sent.fail(1002));  // a close is out already
  CloseHandshake lost;
  lost.lost();
  EXPECT_TRUE(lost.finished());
  EXPECT_FALSE(lost.close_sent());
  EXPECT_EQ(lost.peer_code(), 1006);
}

}  // namespace
}  // namespace cppicorn::ws
