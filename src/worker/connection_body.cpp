// Request bodies and output for Connection: the app's response calls, streaming and 100
// Continue (blocking writes).
//
// Input buffer layout while a request is handled:
//   [0, head_len_)          the head (the parsed Request points into it; never moved)
//   [body_read_, body_end_) decoded body bytes the app has not read yet
//   [raw_pos_, in_len_)     received bytes not yet decoded (or the next pipelined request)
// Small bodies are read before the app runs (evented); larger ones, and bodies behind
// "Expect: 100-continue", are read by the app call itself, blocking with body_timeout; an
// asgi app's loop never blocks on them, nor on a streamed write (connection_async.cpp).
#include <poll.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "http/response.h"
#include "worker/connection.h"
#include "worker/worker.h"

namespace cppicorn::worker {
namespace {

int timeout_ms(double seconds) { return seconds > 0 ? static_cast<int>(seconds * 1000) : -1; }

bool is_token_char(unsigned char c) {
  return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

void Connection::start_body() {
  body_read_ = body_end_ = raw_pos_ = head_len_;
  body_failed_ = false;
  body_error_status_ = 400;
  body_error_reason_ = "request body could not be read";
  continue_sent_ = false;
  body_left_ = 0;
  switch (request_.body) {
    case http::BodyKind::kNone:
      body_done_ = true;
      break;
    case http::BodyKind::kLength:
      body_left_ = request_.content_length;
      body_done_ = body_left_ == 0;
      break;
    case http::BodyKind::kChunked:
      body_done_ = false;
      chunked_.reset(worker_.limits().body);
      break;
  }
}

bool Connection::pump_body() {
  if (body_done_ || body_failed_) return body_done_;
  char* buf = in_.get();
  if (request_.body == http::BodyKind::kLength) {
    // Raw and decoded bytes are the same: body_end_ == raw_pos_ throughout.
    size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, in_len_ - raw_pos_));
    body_end_ += n;
    raw_pos_ += n;
    body_left_ -= n;
    body_done_ = body_left_ == 0;
    return body_done_;
  }
  auto r = chunked_.decode(buf + raw_pos_, in_len_ - raw_pos_);
  if (r.status == http::ChunkedDecoder::Result::kError) {
    body_failed_ = true;
    body_error_status_ = r.http_status;
    body_error_reason_ = r.reason;
    return false;
  }
  if (body_end_ != raw_pos_ && r.produced > 0)
    std::memmove(buf + body_end_, buf + raw_pos_, r.produced);
  body_end_ += r.produced;
  raw_pos_ += r.consumed;
  if (r.status == http::ChunkedDecoder::Result::kDone) {
    body_done_ = true;
    return true;
  }
  // Move the undecoded rest (an incomplete size or trailer line) down to the decoded bytes,
  // so the next read lands right after it.
  size_t raw_left = in_len_ - raw_pos_;
  if (raw_left > 0 && raw_pos_ != body_end_)
    std::memmove(buf + body_end_, buf + raw_pos_, raw_left);
  in_len_ = body_end_ + raw_left;
  raw_pos_ = body_end_;
  return false;
}

bool Connection::ensure_input_space(size_t want) {
  if (in_cap_ - in_len_ >= want) return true;
  // Bound growth: a head may take head_size, a pre-read body 64 KiB, plus read slack.
  const size_t limit = worker_.limits().head_size + 65536 + 32768;
  size_t cap = std::max(in_cap_ * 2, in_len_ + want);
  if (cap > limit) cap = limit;
  if (cap - in_len_ < std::min<size_t>(want, 1)) return false;
  if (cap <= in_cap_) return false;
  std::unique_ptr<char[]> bigger(new char[cap]);
  std::memcpy(bigger.get(), in_.get(), in_len_);
  in_ = std::move(bigger);
  in_cap_ = cap;
  // The parsed request points into the old buffer: parse the (complete) head again.
  if (head_len_ > 0) {
    parser_.reset();
    parser_.parse({in_.get(), head_len_}, request_);
  }
  return true;
}

Connection::ReadMore Connection::read_more(bool may_grow) {
  if (body_read_ == body_end_) {  // all decoded bytes delivered: reclaim their space
    size_t raw_left = in_len_ - raw_pos_;
    std::memmove(in_.get() + head_len_, in_.get() + raw_pos_, raw_left);
    body_read_ = body_end_ = raw_pos_ = head_len_;
    in_len_ = head_len_ + raw_left;
  }
  if (in_len_ == in_cap_) {
    if (!may_grow) return ReadMore::kNoRoom;
    if (!ensure_input_space(16384)) return ReadMore::kFailed;
  }
  for (;;) {
    ssize_t n = io_recv(in_.get() + in_len_, in_cap_ - in_len_);
    if (n > 0) {
      worker_.slot().add_bytes_in(static_cast<uint64_t>(n));
      in_len_ += static_cast<size_t>(n);
      return ReadMore::kGot;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return ReadMore::kWouldBlock;
    body_error_status_ = 400;
    body_error_reason_ = "request body incomplete";
    return ReadMore::kFailed;
  }
}

bool Connection::read_more_blocking() {
  for (;;) {
    ReadMore r = read_more();
    if (r != ReadMore::kWouldBlock) return r == ReadMore::kGot;
    pollfd p{fd_.get(), io_wait_events(POLLIN), 0};
    if (poll(&p, 1, timeout_ms(worker_.settings().body_timeout)) <= 0) {
      body_error_status_ = 408;
      body_error_reason_ = "request body not received in time";
      return false;
    }
  }
}

// The app's first body read answers "Expect: 100-continue" (a fresh socket takes these 25
// bytes at once); false if that write failed.
bool Connection::send_continue() {
  if (!request_.expect_continue || continue_sent_ || head_sent_ || body_done_) return true;
  continue_sent_ = true;
  static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  if (send_all_blocking(kContinue, sizeof kContinue - 1, nullptr, 0)) return true;
  body_failed_ = true;
  return false;
}

int64_t Connection::read_body(void* out, size_t len) {
  if (body_failed_ || !send_continue()) return -1;
  while (body_read_ == body_end_) {
    if (body_done_) return 0;
    if (!read_more_blocking()) {
      body_failed_ = true;
      return -1;
    }
    pump_body();
    if (body_failed_) return -1;
  }
  size_t n = std::min(len, body_end_ - body_read_);
  std::memcpy(out, in_.get() + body_read_, n);
  body_read_ += n;
  return static_cast<int64_t>(n);
}

int Connection::fill_iov(iovec* iov, const char* a, size_t alen, const char* b, size_t blen,
                         std::string_view c) {
  int count = 0;
  for (auto [data, len] : {std::pair{a, alen}, std::pair{b, blen}, std::pair{c.data(), c.size()}})
    if (len > 0) iov[count++] = {const_cast<char*>(data), len};
  return count;
}

bool Connection::write_now(iovec* iov, int count, int* first) {
  while (*first < count) {
    ssize_t n = io_writev(iov + *first, count - *first);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;
    }
    worker_.slot().add_bytes_out(static_cast<uint64_t>(n));
    size_t done = static_cast<size_t>(n);
    while (*first < count && done >= iov[*first].iov_len) done -= iov[(*first)++].iov_len;
    if (*first < count) {
      iov[*first].iov_base = static_cast<char*>(iov[*first].iov_base) + done;
      iov[*first].iov_len -= done;
    }
  }
  return true;
}

bool Connection::send_all_blocking(const char* a, size_t alen, const char* b, size_t blen,
                                   std::string_view c) {
  iovec iov[3];
  const int count = fill_iov(iov, a, alen, b, blen, c);
  int first = 0;
  for (;;) {
    if (!write_now(iov, count, &first)) return false;
    if (first == count) return true;
    pollfd p{fd_.get(), io_wait_events(POLLOUT), 0};
    if (poll(&p, 1, timeout_ms(worker_.settings().body_timeout)) <= 0) return false;
  }
}

int Connection::stream(const void* data, size_t len) { return stream_out(data, len, true); }

// The app's thread: the head first, then the data (in a chunk unless a length was declared).
// With `wait` a full socket blocks here; without, what it does not take is queued (send).
int Connection::stream_out(const void* data, size_t len, bool wait) {
  if (state_ == State::kClosed) return -1;
  const bool head_request = request_.method == "HEAD";
  const bool chunked = !declared_ && request_.version_minor == 1;
  out_.clear();
  if (!head_sent_) {
    http::ResponseHead head;
    head.status = status_;
    head.reason = reason_;
    head.version_minor = request_.version_minor;
    // HTTP/1.0 without a length: the end of the body is the close.
    if (!chunked && !declared_) keep_alive_ = false;
    body_settled();
    head.keep_alive = keep_alive_;
    head.framing = !http::status_allows_body(status_) ? http::Framing::kNoBody
                   : declared_                        ? http::Framing::kContentLength
                   : chunked                          ? http::Framing::kChunked
                                                      : http::Framing::kClose;
    head.content_length = declared_length_;
    head.app_fields = fields_;
    head.server = server_from_app_ ? std::string_view() : worker_.settings().server_header;
    http::render_head(head, worker_.date(), out_);
    head_sent_ = streaming_ = true;
  }
  if (declared_ && len > declared_length_ - bytes_sent_) {
    spdlog::warn("Dropping response bytes beyond the Content-Length the app announced");
    len = static_cast<size_t>(declared_length_ - bytes_sent_);
  }
  if (head_request || len == 0 || !http::status_allows_body(status_)) {
    return out_.empty() ? 0 : send_or_queue(wait, out_.data(), out_.size(), nullptr, 0);
  }
  if (chunked) http::render_chunk_size(len, out_);
  // Chunk size, data and the chunk's CRLF in one writev.
  int rc = send_or_queue(wait, out_.data(), out_.size(), static_cast<const char*>(data), len,
                         chunked ? "\r\n" : "");
  if (rc < 0) {
    keep_alive_ = false;
    return -1;
  }
  bytes_sent_ += len;
  return rc;
}

void Connection::set_content_length(uint64_t length) {
  if (head_sent_) return;
  declared_ = true;
  declared_length_ = length;
}

void Connection::add_header(std::string_view name, std::string_view value) {
  if (head_sent_) return;
  bool valid = !name.empty();
  for (unsigned char c : name) valid = valid && is_token_char(c);
  for (unsigned char c : value) valid = valid && c != '\r' && c != '\n' && c != '\0';
  if (!valid) {
    spdlog::warn("Dropping invalid response header from the app: {}", name);
    return;
  }
  // Framing and connection management are the server's: letting an app set them would let
  // it desynchronise the connection.
  if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
      iequals(name, "Connection") || iequals(name, "Date") || iequals(name, "Keep-Alive")) {
    return;
  }
  if (iequals(name, "Server")) server_from_app_ = true;
  fields_.append(name);
  fields_.append(": ");
  fields_.append(value);
  fields_.append("\r\n");
}

void Connection::write(const void* data, size_t len) {
  if (streaming_) {
    stream(data, len);
    return;
  }
  body_.append(static_cast<const char*>(data), len);
}

int Connection::send_file(int fd, int64_t offset, int64_t len) {
  if (streaming_ || offset < 0 || len < 0) {
    ::close(fd);
    return -1;
  }
  // The length the app announced wins (PEP 3333: never more than its Content-Length; a 206
  // names its range's). A file that turns out shorter ends in a close, as a short stream does.
  if (declared_) len = static_cast<int64_t>(std::min<uint64_t>(declared_length_, INT64_MAX));
  file_.reset(fd);
  file_off_ = offset;
  file_left_ = len;
  body_.clear();
  return 0;
}

}  // namespace cppicorn::worker
