// WsSession (worker/ws_session.h): the inbox and outbox between the loop and the app, with a
// fake executor that counts notify() (loop -> app) and poke() (app -> loop).
#include "worker/ws_session.h"

#include <gtest/gtest.h>

#include <string>

namespace cppicorn::worker {
namespace {

class CountingExecutor final : public Executor {
 public:
  void submit(Task&) override {}
  void notify(Task&) override { ++notified; }
  void poke(Task&) override { ++poked; }
  int notified = 0;
  int poked = 0;
};

class NoTask final : public Task {
 public:
  void run() override {}
  void complete() override {}
  std::string_view what() const override { return "GET /ws HTTP/1.1"; }
};

// A masked client frame (the key is all zero bits but the mask flag: payload as is).
std::string client_frame(uint8_t op, std::string_view payload, bool fin = true) {
  std::string f;
  f += static_cast<char>((fin ? 0x80 : 0) | op);
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xFF);
  }
  f.append(4, '\0');
  f.append(payload);
  return f;
}

class WsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws::Offer offer;
    offer.key = "dGhlIHNhbXBsZSBub25jZQ==";
    offer.subprotocols = {"chat"};
    session.reset(executor, task, 1 << 20, offer);
  }
  ws::FrameDecoder::Result feed(std::string bytes) {
    return session.decode(bytes.data(), bytes.size());
  }

  CountingExecutor executor;
  NoTask task;
  WsSession session;
};

TEST_F(WsSessionTest, MessagesWaitForTheAppWhichIsNotifiedOnceWhenItWaits) {
  feed(client_frame(1, "hello"));
  EXPECT_EQ(executor.notified, 0);  // nobody was waiting
  app::WebSocket::Message m;
  ASSERT_TRUE(session.receive(&m));
  EXPECT_EQ(m.kind, app::WebSocket::Message::kText);
  EXPECT_EQ(m.data, "hello");
  EXPECT_FALSE(session.receive(&m));  // empty: the app now waits
  feed(client_frame(2, "a", false) + client_frame(0, "b", false) + client_frame(0, "c"));
  EXPECT_EQ(executor.notified, 1);
  ASSERT_TRUE(session.receive(&m));
  EXPECT_EQ(m.kind, app::WebSocket::Message::kBinary);
  EXPECT_EQ(m.data, "abc");  // reassembled
}

TEST_F(WsSessionTest, PingIsAnsweredOnTheWireAndCloseIsEchoedAndDelivered) {
  feed(client_frame(9, "pp") + client_frame(10, "ignored"));
  EXPECT_EQ(session.wire(), std::string("\x8A\x02pp", 4));
  session.wire().clear();
  std::string close = client_frame(8, std::string("\x0F\xA1", 2) + "bye");  // 4001
  EXPECT_EQ(feed(close).status, ws::FrameDecoder::Result::kClosed);
  EXPECT_EQ(session.wire(), std::string("\x88\x02\x0F\xA1", 4));
  app::WebSocket::Message m;
  ASSERT_TRUE(session.receive(&m));
  EXPECT_EQ(m.kind, app::WebSocket::Message::kDisconnect);
  EXPECT_EQ(m.code, 4001);
  EXPECT_EQ(m.data, "bye");
  EXPECT_TRUE(session.receive(&m));  // a disconnect repeats
  EXPECT_EQ(session.send(true, "late", 4), app::WebSocket::Sent::kClosed);
}

TEST_F(WsSessionTest, SendsPokeOnceUntilTakenAndFullAboveHighWater) {
  session.accept("chat");
  EXPECT_TRUE(session.accepted());
  EXPECT_EQ(session.subprotocol(), "chat");
  EXPECT_EQ(executor.poked, 1);
  EXPECT_EQ(session.send(true, "one", 3), app::WebSocket::Sent::kOk);
  EXPECT_EQ(session.send(false, "two", 3), app::WebSocket::Sent::kOk);
  EXPECT_EQ(executor.poked, 2);  // the second rides on the first's poke
  std::string out;
  WsSession::Outbound asked;
  session.take_outbound(&out, &asked, false);
  EXPECT_EQ(out, std::string("\x81\x03one\x82\x03two", 10));
  const std::string big(WsSession::kHighWater + 1, 'x');
  EXPECT_EQ(session.send(false, big.data(), big.size()), app::WebSocket::Sent::kFull);
  out.clear();
  session.take_outbound(&out, &asked, false);
  session.set_unsent(out.size());  // nothing written yet: the app keeps waiting
  EXPECT_EQ(executor.notified, 0);
  EXPECT_EQ(session.writable(), app::WebSocket::Sent::kFull);
  session.set_unsent(WsSession::kLowWater);
  EXPECT_EQ(executor.notified, 1);
  EXPECT_EQ(session.writable(), app::WebSocket::Sent::kOk);
  session.take_outbound(&out, &asked, true);  // the server closes: no more sends
  EXPECT_EQ(session.send(true, "x", 1), app::WebSocket::Sent::kClosed);
}

TEST_F(WsSessionTest, ReadingPausesAboveHighWaterAndResumesBelowLowWater) {
  const std::string chunk(40000, 'y');
  feed(client_frame(2, "") + client_frame(2, chunk.substr(0, 100)));
  EXPECT_FALSE(session.inbox_full());
  feed(client_frame(2, chunk) + client_frame(2, chunk));
  EXPECT_TRUE(session.inbox_full());
  const int pokes = executor.poked;
  app::WebSocket::Message m;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(session.receive(&m));
  EXPECT_EQ(executor.poked, pokes);  // 40 KiB left: still above the low-water mark
  ASSERT_TRUE(session.receive(&m));
  EXPECT_EQ(executor.poked, pokes + 1);
  std::string out;
  WsSession::Outbound asked;
  session.take_outbound(&out, &asked, false);
  EXPECT_TRUE(asked.resume_read);
}

TEST_F(WsSessionTest, AppCloseIsAskedOnceAndRefusesSends) {
  session.close(4000, "bye");
  session.close(4001, "again");
  WsSession::Outbound asked;
  std::string out;
  session.take_outbound(&out, &asked, false);
  EXPECT_TRUE(asked.close);
  EXPECT_EQ(asked.close_code, 4000);
  EXPECT_EQ(asked.close_reason, "bye");
  EXPECT_EQ(session.send(true, "x", 1), app::WebSocket::Sent::kClosed);
}

}  // namespace
}  // namespace cppicorn::worker
