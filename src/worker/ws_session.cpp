// WsSession (ws_session.h): the WebSocket's inbox and outbox between the loop and the app.
#include "worker/ws_session.h"

namespace cppicorn::worker {

void WsSession::reset(Executor& executor, Task& task, uint64_t max_message,
                      const ws::Offer& offer) {
  executor_ = &executor;
  task_ = &task;
  key_.assign(offer.key);
  subprotocols_.clear();
  for (std::string_view p : offer.subprotocols) subprotocols_.emplace_back(p);
  decoder_ = ws::FrameDecoder(max_message);
  handshake_ = ws::CloseHandshake();
  message_.clear();
  wire_.clear();
  std::lock_guard lock(mu_);
  inbox_.clear();
  inbox_bytes_ = 0;
  recv_waiting_ = send_waiting_ = disconnected_ = closed_ = reading_paused_ = accepted_ = false;
  disconnect_ = Message();
  subprotocol_.clear();
  outbox_.clear();
  unsent_ = 0;
  asked_ = Outbound();
  payload_bytes_ = 0;
}

// -- the app's thread --------------------------------------------------------------------

void WsSession::accept(std::string_view subprotocol) {
  {
    std::lock_guard lock(mu_);
    subprotocol_.assign(subprotocol);
    accepted_ = true;
  }
  executor_->poke(*task_);
}

bool WsSession::receive(Message* out) {
  bool resume = false;
  {
    std::lock_guard lock(mu_);
    if (inbox_.empty()) {
      if (disconnected_) {
        *out = disconnect_;
        return true;
      }
      recv_waiting_ = true;
      return false;
    }
    *out = std::move(inbox_.front());
    inbox_.pop_front();
    inbox_bytes_ -= out->data.size();
    if (reading_paused_ && inbox_bytes_ < kLowWater) {
      reading_paused_ = false;
      asked_.resume_read = resume = true;
    }
  }
  if (resume) executor_->poke(*task_);
  return true;
}

WsSession::Sent WsSession::send(bool text, const void* data, size_t len) {
  const ws::FrameHeader h = ws::frame_header(text ? ws::Opcode::kText : ws::Opcode::kBinary, len);
  bool poke;
  Sent result = Sent::kOk;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Sent::kClosed;
    poke = outbox_.empty();  // else a poke is on its way already, or the loop has one
    outbox_.append(h.view());
    outbox_.append(static_cast<const char*>(data), len);
    payload_bytes_ += len;
    if (outbox_.size() + unsent_ > kHighWater) {
      send_waiting_ = true;
      result = Sent::kFull;
    }
  }
  if (poke) executor_->poke(*task_);
  return result;
}

WsSession::Sent WsSession::writable() {
  std::lock_guard lock(mu_);
  if (closed_) return Sent::kClosed;
  if (outbox_.size() + unsent_ > kLowWater) {
    send_waiting_ = true;
    return Sent::kFull;
  }
  return Sent::kOk;
}

void WsSession::close(uint16_t code, std::string_view reason) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    asked_.close = true;
    asked_.close_code = code;
    asked_.close_reason.assign(reason);
  }
  executor_->poke(*task_);
}

// -- the loop thread ---------------------------------------------------------------------

ws::FrameDecoder::Result WsSession::decode(char* buf, size_t len) {
  return decoder_.decode(buf, len, *this);
}

void WsSession::on_data(ws::Opcode type, std::string_view piece, bool last) {
  if (message_.empty()) message_text_ = type == ws::Opcode::kText;
  if (last && message_.empty()) {  // a message in one piece: one copy, into the event
    Message m;
    m.kind = message_text_ ? Message::kText : Message::kBinary;
    m.data.assign(piece);
    std::lock_guard lock(mu_);
    push_locked(std::move(m));
    return;
  }
  message_.append(piece);
  if (!last) return;
  Message m;
  m.kind = message_text_ ? Message::kText : Message::kBinary;
  m.data.swap(message_);
  std::lock_guard lock(mu_);
  push_locked(std::move(m));
}

void WsSession::on_ping(std::string_view payload) {
  if (handshake_.close_sent()) return;  // nothing may follow our close frame
  wire_.append(ws::frame_header(ws::Opcode::kPong, payload.size()).view());
  wire_.append(payload);
}

void WsSession::on_close(uint16_t code, std::string_view reason) {
  if (std::optional<uint16_t> echo = handshake_.received(code)) {
    const ws::ClosePayload p = ws::close_payload(*echo);
    wire_.append(ws::frame_header(ws::Opcode::kClose, p.size).view());
    wire_.append(p.view());
  }
  disconnect(code, reason);
}

void WsSession::push_locked(Message&& m) {
  inbox_bytes_ += m.data.size();
  inbox_.push_back(std::move(m));
  if (recv_waiting_) {
    recv_waiting_ = false;
    executor_->notify(*task_);
  }
}

bool WsSession::accepted() {
  std::lock_guard lock(mu_);
  return accepted_;
}

uint64_t WsSession::payload_bytes() {
  std::lock_guard lock(mu_);
  return payload_bytes_;
}

void WsSession::take_outbound(std::string* out, Outbound* what, bool stop) {
  std::lock_guard lock(mu_);
  if (stop) {
    closed_ = true;
    if (send_waiting_) {
      send_waiting_ = false;
      executor_->notify(*task_);
    }
  }
  if (out->empty()) {
    out->swap(outbox_);
  } else {
    out->append(outbox_);
  }
  outbox_.clear();
  *what = std::move(asked_);
  asked_ = Outbound();
}

void WsSession::set_unsent(size_t unsent) {
  std::lock_guard lock(mu_);
  unsent_ = unsent;
  if (send_waiting_ && outbox_.size() + unsent_ <= kLowWater) {
    send_waiting_ = false;
    executor_->notify(*task_);
  }
}

bool WsSession::inbox_full() {
  std::lock_guard lock(mu_);
  if (inbox_bytes_ <= kHighWater) return false;
  reading_paused_ = true;
  return true;
}

void WsSession::disconnect(uint16_t code, std::string_view reason) {
  std::lock_guard lock(mu_);
  closed_ = true;
  if (disconnected_) return;
  disconnected_ = true;
  disconnect_.kind = Message::kDisconnect;
  disconnect_.code = code;
  disconnect_.data.assign(reason);
  if (recv_waiting_ || send_waiting_) {
    recv_waiting_ = send_waiting_ = false;
    executor_->notify(*task_);
  }
}

}  // namespace cppicorn::worker
