// Connection for apps that run on their own event loop (asgi): body reads and streamed
// writes that never block that loop. Where the blocking versions (connection_body.cpp)
// would wait on the client, the app's thread hands the wait to the worker's loop: an atomic
// flag (body_wanted_, write_wanted_) gives the fields involved to the loop, Executor::poke
// arms the event, and Executor::notify puts the call in the woken list of the app's next
// CallQueue::take once the loop is done; the flag's release store hands the fields back.
//
//   read:  try_read_body -> nothing there -> body_wanted_, poke -> poked(): read event with
//          body_timeout -> read_body_for_app: recv + decode -> notify -> try again
//   write: try_stream -> socket full -> the rest in backlog_, write_wanted_, poke ->
//          poked(): write event with body_timeout -> flush_for_app -> notify -> stream_flushed
//   gone:  the read event during a call -> check_client_gone: end of stream -> notify
//
// Over TLS both block as before: the loop cannot use the SSL object while the app's thread
// may be using it for the other direction.
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>

#include "worker/connection.h"
#include "worker/worker.h"

namespace cppicorn::worker {

// The app's thread.
int64_t Connection::try_read_body(void* out, size_t len) {
  if (ssl_ != nullptr) return read_body(out, len);
  if (body_wanted_.load(std::memory_order_acquire)) return app::Exchange::kBodyPending;
  if (body_failed_ || !send_continue()) return -1;
  while (body_read_ == body_end_ && !body_done_ && !body_failed_) {
    ReadMore r = read_more();
    if (r == ReadMore::kFailed) body_failed_ = true;
    if (r == ReadMore::kGot) pump_body();
    if (r == ReadMore::kWouldBlock) {
      // Nothing yet: the loop reads (read_body_for_app) and wakes the app's loop then.
      body_wanted_.store(true, std::memory_order_release);
      worker_.executor().poke(*this);
      return app::Exchange::kBodyPending;
    }
  }
  return read_body(out, len);
}

// On the loop thread, for an app that is waiting in try_read_body: the read event (armed by
// poked() with body_timeout) delivered bytes, or the deadline passed.
void Connection::read_body_for_app(short what) {
  if (what & EV_TIMEOUT) {
    body_failed_ = true;
    body_error_status_ = 408;
    body_error_reason_ = "request body not received in time";
  } else {
    // Never grows the buffer here: that parses the head again, which the app's thread may
    // be reading. With no room left the app's own try_read_body makes it.
    ReadMore r = read_more(false);
    if (r == ReadMore::kWouldBlock) return;
    if (r == ReadMore::kFailed) body_failed_ = true;
    if (r == ReadMore::kGot) pump_body();
    if (r == ReadMore::kGot && body_read_ == body_end_ && !body_done_ && !body_failed_) {
      return;  // framing only (a chunk-size line): wait for the data
    }
  }
  event_add(&read_ev_, nullptr);  // registered without a deadline again, as during any call
  read_parked_ = false;
  body_wanted_.store(false, std::memory_order_release);
  worker_.executor().notify(*this);
}

// The app's thread: as stream(), but a socket that takes only part queues the rest.
int Connection::try_stream(const void* data, size_t len) {
  if (ssl_ != nullptr) return stream(data, len);
  if (write_wanted_.load(std::memory_order_acquire) || backlog_failed_) {
    keep_alive_ = false;  // (the glue waits for stream_flushed() before it streams again)
    return -1;
  }
  return stream_out(data, len, false);
}

int Connection::stream_flushed() const {
  if (write_wanted_.load(std::memory_order_acquire)) return app::Exchange::kStreamPending;
  return backlog_failed_ ? -1 : 0;
}

// The app's thread: writes what the socket takes now; with `wait` blocks for the rest, else
// keeps it in backlog_ for the loop (flush_for_app).
int Connection::send_or_queue(bool wait, const char* a, size_t alen, const char* b, size_t blen,
                              std::string_view c) {
  if (wait) return send_all_blocking(a, alen, b, blen, c) ? 0 : -1;
  iovec iov[3];
  const int count = fill_iov(iov, a, alen, b, blen, c);
  int first = 0;
  if (!write_now(iov, count, &first)) return -1;
  if (first == count) return 0;
  backlog_.clear();
  for (int i = first; i < count; ++i) {
    backlog_.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  }
  backlog_sent_ = 0;
  write_wanted_.store(true, std::memory_order_release);
  worker_.executor().poke(*this);
  return app::Exchange::kStreamPending;
}

// On the loop thread: the socket takes more of backlog_ (the write event poked() armed), or
// body_timeout passed without it taking any.
void Connection::flush_for_app(short what) {
  bool failed = (what & EV_TIMEOUT) != 0;
  while (!failed && backlog_sent_ < backlog_.size()) {
    iovec iov{backlog_.data() + backlog_sent_, backlog_.size() - backlog_sent_};
    ssize_t n = io_writev(&iov, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      failed = true;
      break;
    }
    worker_.slot().add_bytes_out(static_cast<uint64_t>(n));
    backlog_sent_ += static_cast<size_t>(n);
  }
  if (failed) spdlog::debug("A streamed response failed: the client went away or stalled");
  event_del(&write_ev_);
  backlog_failed_ = failed;
  write_wanted_.store(false, std::memory_order_release);
  worker_.executor().notify(*this);
}

// On the loop thread, when the socket turns readable during an asgi call whose body the
// app is not waiting for: bytes are a pipelined request (parked for later, as in any call);
// end of stream or an error is the client gone, which the app hears as http.disconnect.
// MSG_PEEK reads nothing, so TLS records stay where OpenSSL will look for them.
void Connection::check_client_gone() {
  char byte;
  ssize_t n = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return;
  client_gone_.store(true, std::memory_order_release);
  worker_.executor().notify(*this);
}

}  // namespace cppicorn::worker
