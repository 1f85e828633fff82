// WsSession: the state of one WebSocket on an asgi worker, between the connection's loop
// thread (frames in and out: worker/connection_ws.cpp) and the app's thread (app::WebSocket).
//
//   loop: socket bytes -> decode() -> whole messages into the inbox -> notify the app
//         ping -> pong, close -> echo (wire()), violations -> the close code (ws/frame.h)
//   app:  receive() takes the inbox; send() encodes frames into the outbox -> poke the loop,
//         which moves them to the socket (take_outbound()) and reports what is left unsent
//
// The shared half is guarded by one mutex and is a few queues and flags. Backpressure both
// ways: the loop stops reading while the inbox holds more than kHighWater bytes the app did
// not take, and send() says kFull while more than kHighWater bytes wait to be written.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "app/app.h"
#include "worker/executor.h"
#include "ws/close.h"
#include "ws/frame.h"
#include "ws/handshake.h"

namespace cppicorn::worker {

class WsSession final : public app::WebSocket, public ws::FrameVisitor {
 public:
  static constexpr size_t kHighWater = 65536;
  static constexpr size_t kLowWater = 16384;

  // What the app's thread asked the loop for since the loop last looked.
  struct Outbound {
    bool close = false;        // the app closed with close_code, close_reason
    bool resume_read = false;  // the app took the inbox below kLowWater
    uint16_t close_code = 0;
    std::string close_reason;
  };

  // Loop thread, before the call goes to the app: a new WebSocket on task (the connection).
  void reset(Executor& executor, Task& task, uint64_t max_message, const ws::Offer& offer);

  // app::WebSocket (the app's thread).
  const std::vector<std::string>& subprotocols() const override { return subprotocols_; }
  void accept(std::string_view subprotocol) override;
  bool receive(Message* out) override;
  Sent send(bool text, const void* data, size_t len) override;
  Sent writable() override;
  void close(uint16_t code, std::string_view reason) override;

  // Loop thread.
  std::string_view key() const { return key_; }
  std::string_view subprotocol() const { return subprotocol_; }  // after accept
  bool accepted();  // the app accepted: the connection is the loop's again
  // Feeds received bytes to the decoder; messages go to the inbox, the app is notified.
  ws::FrameDecoder::Result decode(char* buf, size_t len);
  // Control frames the loop must send (pongs, the close echo); the caller takes them.
  std::string& wire() { return wire_; }
  ws::CloseHandshake& handshake() { return handshake_; }
  // Appends what the app sent to *out and says what else it asked for. stop: the server
  // closes now, so the app's sends are refused from here on (nothing can follow the close).
  void take_outbound(std::string* out, Outbound* what, bool stop);
  // The loop has `unsent` bytes not yet written: the app may send again below kLowWater.
  void set_unsent(size_t unsent);
  // The inbox is above kHighWater: the loop should stop reading (it then waits for a poke
  // with resume_read).
  bool inbox_full();
  // No more sends from the app; the app's next receive() after its messages is a
  // websocket.disconnect with code (once; later calls change nothing).
  void disconnect(uint16_t code, std::string_view reason = {});
  uint64_t payload_bytes();  // sent by the app, for the access log

 private:
  // ws::FrameVisitor (the loop, inside decode()).
  void on_data(ws::Opcode type, std::string_view piece, bool last) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view) override {}
  void on_close(uint16_t code, std::string_view reason) override;
  // With mu_ held: an event for the app; wakes it if it waits.
  void push_locked(Message&& m);

  Executor* executor_ = nullptr;
  Task* task_ = nullptr;
  std::string key_;
  std::vector<std::string> subprotocols_;

  // Loop-only.
  ws::FrameDecoder decoder_;
  ws::CloseHandshake handshake_;
  std::string message_;  // the data message being reassembled
  bool message_text_ = false;
  std::string wire_;

  // Shared, under mu_.
  std::mutex mu_;
  std::deque<Message> inbox_;
  size_t inbox_bytes_ = 0;
  bool recv_waiting_ = false;  // receive() found nothing: notify on an event
  bool send_waiting_ = false;  // send() or writable() said kFull: notify below kLowWater
  bool disconnected_ = false;
  Message disconnect_;
  bool closed_ = false;  // sends are refused
  bool accepted_ = false;
  bool reading_paused_ = false;
  std::string subprotocol_;
  std::string outbox_;
  size_t unsent_ = 0;  // the loop's unsent bytes, as last reported
  Outbound asked_;
  uint64_t payload_bytes_ = 0;
};

}  // namespace cppicorn::worker
