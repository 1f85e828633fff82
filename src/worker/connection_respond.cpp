// The response side of Connection: the head and body after the app call (writev, sendfile),
// error responses, and what follows a response (access log, keep-alive or close).
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "http/response.h"
#include "log/access_log.h"
#include "worker/connection.h"
#include "worker/worker.h"

namespace cppicorn::worker {

void Connection::respond() {
  const bool head_request = request_.method == "HEAD";
  if (streaming_) {  // all sent by run(), on the thread that made the call
    if (stream_broken_) return close();
    request_done();
    return;
  }
  body_settled();
  http::ResponseHead head;
  head.status = status_;
  head.reason = reason_;
  head.version_minor = request_.version_minor;
  head.keep_alive = keep_alive_;
  head.app_fields = fields_;
  head.server = server_from_app_ ? std::string_view() : worker_.settings().server_header;
  if (!http::status_allows_body(status_)) {
    head.framing = http::Framing::kNoBody;
    body_.clear();
    file_.reset();
    file_left_ = 0;
  } else {
    head.content_length = file_ ? static_cast<uint64_t>(file_left_) : body_.size();
    // HEAD: the app may announce the length of the body it does not give.
    if (head_request && declared_ && !file_ && body_.empty()) {
      head.content_length = declared_length_;
    }
  }
  http::render_head(head, worker_.date(), out_);
  if (head_request) {
    body_.clear();
    file_.reset();
    file_left_ = 0;
  }
  write_pending();
}

bool Connection::set_reason(std::string_view reason) {
  if (!http::valid_reason(reason)) return false;
  reason_.assign(reason);
  return true;
}

void Connection::respond_error(int status, std::string_view reason) {
  spdlog::debug("Rejecting request from {}: {} {}", remote_addr(), status, reason);
  reset_response();
  status_ = status;  // for the access log and the response counters
  worker_.slot().count_rejection(status);
  keep_alive_ = false;
  linger_ = true;
  enter(State::kInApp);
  http::render_error(status, reason, worker_.settings().server_header, worker_.date(), out_);
  write_pending();
}

void Connection::write_pending() {
  while (out_sent_ < out_.size() || body_sent_ < body_.size()) {
    iovec iov[2];
    int count = 0;
    if (out_sent_ < out_.size()) iov[count++] = {out_.data() + out_sent_, out_.size() - out_sent_};
    if (body_sent_ < body_.size()) {
      iov[count++] = {body_.data() + body_sent_, body_.size() - body_sent_};
    }
    ssize_t n = io_writev(iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return close();
      break;
    }
    worker_.slot().add_bytes_out(static_cast<uint64_t>(n));
    size_t head_part = std::min(static_cast<size_t>(n), out_.size() - out_sent_);
    out_sent_ += head_part;
    body_sent_ += static_cast<size_t>(n) - head_part;
  }
  const bool use_sendfile = worker_.settings().sendfile;
  while (out_sent_ == out_.size() && body_sent_ == body_.size() && file_left_ > 0) {
    off_t off = file_off_;
    size_t chunk = static_cast<size_t>(std::min<int64_t>(file_left_, 1 << 21));
    ssize_t n = ssl_ != nullptr ? tls_sendfile(&off, chunk)
                : use_sendfile  ? sendfile(fd_.get(), file_.get(), &off, chunk)
                                : copy_file_chunk(&off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) return close();  // file shorter than promised, or the client is gone
    worker_.slot().add_bytes_out(static_cast<uint64_t>(n));
    file_off_ = off;
    file_left_ -= n;
    bytes_sent_ += static_cast<uint64_t>(n);
  }
  if (out_sent_ < out_.size() || body_sent_ < body_.size() || file_left_ > 0) {
    if (state_ != State::kWriting) {
      enter(State::kWriting);
      event_del(&read_ev_);
      timeval tv = to_timeval(worker_.settings().body_timeout);
      event_add(&write_ev_, worker_.settings().body_timeout > 0 ? &tv : nullptr);
    }
    return;
  }
  if (state_ == State::kWriting) event_del(&write_ev_);
  bytes_sent_ += body_.size();
  request_done();
}

// --no-sendfile: one pread and one send of up to 64 KiB, with sendfile's contract (bytes
// sent, *off advanced by them; -1 with errno). Bytes read but not taken by the socket are
// read again next time: simpler than keeping them, and this is the uncommon path.
ssize_t Connection::copy_file_chunk(off_t* off) {
  char buf[65536];
  ssize_t got =
      pread(file_.get(), buf, static_cast<size_t>(std::min<int64_t>(file_left_, sizeof buf)), *off);
  if (got <= 0) return got;
  ssize_t n = send(fd_.get(), buf, static_cast<size_t>(got), MSG_NOSIGNAL);
  if (n > 0) *off += n;
  return n;
}

void Connection::finish_request() {
  if (log::AccessLog* access = worker_.access_log();
      access != nullptr && !request_.method.empty() && head_len_ > 0) {
    log::AccessEntry e;
    e.request = &request_;
    e.request_line = request_line(request_);
    e.remote_addr = addr_len_ ? remote_addr() : std::string_view("-");
    e.status = status_;
    e.response_fields = fields_;
    e.body_bytes = bytes_sent_;
    if (ssl_ != nullptr) {
      e.tls_protocol = tls_var("SSL_PROTOCOL");
      e.tls_cipher = tls_var("SSL_CIPHER");
    }
    e.start = started_;
    e.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_mono_);
    access->log(e);
  }
  worker_.slot().count_response(status_);
  if (head_len_ > 0) worker_.request_done();
}

void Connection::request_done() {
  bool was_writing = state_ == State::kWriting;
  finish_request();
  // A response that promised keep-alive keeps its promise even when a stop began meanwhile
  // (with threads, one always does for the calls in flight): the connection waits, as an
  // idle one does then (stop_when_idle), for a next request to answer with "Connection: close".
  if (!keep_alive_ || !body_done_) return close_after_response();
  // Bytes after this request's body are the next pipelined request.
  size_t next = raw_pos_;
  size_t leftover = in_len_ - next;
  if (leftover > 0) std::memmove(in_.get(), in_.get() + next, leftover);
  in_len_ = leftover;
  head_len_ = 0;
  parser_.reset();
  if (was_writing) arm_read(worker_.settings().keepalive);
  if (in_len_ > 0) {
    // A pipelined request queues behind those that were ready before it: a connection is
    // never served twice while another's request waits (Puma #2625).
    enter(State::kReadingHead);
    start_head_deadline();
    deferred_ = true;
    worker_.defer(*this);
  } else {
    enter(State::kKeepAlive);
    const bool stopping = stop_requested_ || worker_.stopping();
    arm_read(stopping ? std::min(worker_.settings().keepalive, 1.0) : worker_.settings().keepalive);
  }
}

}  // namespace cppicorn::worker
