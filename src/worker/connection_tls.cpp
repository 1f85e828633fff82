// The transport of a TLS Connection: the PROXY protocol's header if it is on (in the clear,
// read without taking a byte of the ClientHello), the non-blocking handshake in the worker's
// event loop (under tls_handshake_timeout, before the connection reaches any app), then reads and
// writes through the SSL object, files by kTLS's SSL_sendfile or else read-and-SSL_write, and the
// close_notify. What the app may learn of the session (tls_var) is here too.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/proxy_protocol.h"
#include "tls/context.h"
#include "worker/connection.h"
#include "worker/worker.h"

namespace cppicorn::worker {
namespace {

constexpr size_t kRecord = 16384;     // TLS's largest plaintext record
constexpr size_t kFileChunk = 65536;  // file bytes read per SSL_write without kTLS

}  // namespace

// With the PROXY protocol on, its header comes first, in the clear; the handshake's timeout
// covers both.
void Connection::start_tls(SSL_CTX* ctx) {
  bool proxy_first = state_ == State::kReadingProxy;
  enter(State::kHandshaking);
  tls_broken_ = false;
  ktls_send_ = false;
  client_s_dn_.clear();
  client_i_dn_.clear();
  tls_after_proxy_ = proxy_first ? ctx : nullptr;
  double timeout = worker_.settings().tls_handshake_timeout;
  head_deadline_set_ = timeout > 0;
  head_deadline_ = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000));
  if (!proxy_first && !make_ssl(ctx)) return;
  // The ClientHello is usually there already (TCP_DEFER_ACCEPT): try at once.
  handshake(EV_READ);
}

bool Connection::make_ssl(SSL_CTX* ctx) {
  tls_after_proxy_ = nullptr;
  ssl_ = SSL_new(ctx);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_.get()) != 1) {
    spdlog::error("TLS: cannot set up a connection: {}", tls::openssl_error());
    tls_broken_ = true;
    close();
    return false;
  }
  SSL_set_accept_state(ssl_);
  return true;
}

// The PROXY header before the ClientHello: only its own bytes may leave the socket (what
// follows is OpenSSL's to read), so the header is peeked at and exactly its bytes are taken:
// v2 says its length in its first 16 bytes, v1 ends at its CRLF (107 bytes at most). Bytes
// known to be header are always taken, so a header that trickles in never leaves the socket
// readable with nothing to do. False: wait for more, or the connection was closed.
bool Connection::read_proxy_before_tls() {
  std::string_view peer(addr_, addr_len_);
  char peek[256];
  ssize_t n = ::recv(fd_.get(), peek, sizeof peek, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  if (n <= 0) {
    close();
    return false;
  }
  const size_t have = in_len_;
  std::string seen(in_.get(), have);
  seen.append(peek, static_cast<size_t>(n));
  size_t take = static_cast<size_t>(n);
  if (seen[0] == '\r') {  // v2: 12-byte signature, version/command, family, 2-byte length
    if (seen.size() >= 16) {
      size_t total =
          16 + ((static_cast<unsigned char>(seen[14]) << 8) | static_cast<unsigned char>(seen[15]));
      take = std::min(take, total - std::min(total, have));
    }
  } else if (size_t crlf = seen.find("\r\n"); crlf != std::string::npos) {
    take = crlf + 2 - have;
  }
  if (!ensure_input_space(take)) {
    spdlog::debug("Closing connection from {}: PROXY header too large", peer);
    close();
    return false;
  }
  ssize_t got = ::recv(fd_.get(), in_.get() + have, take, 0);
  if (got <= 0) {
    close();
    return false;
  }
  in_len_ += static_cast<size_t>(got);
  const std::string& mode = worker_.settings().proxy_protocol;
  if ((mode == "v1" && in_[0] != 'P') || (mode == "v2" && in_[0] != '\r')) {
    spdlog::debug("Closing connection from {}: not a PROXY {} header", peer, mode);
    close();
    return false;
  }
  net::ProxyHeader h = net::parse_proxy_header({in_.get(), in_len_});
  if (h.status == net::ProxyHeader::kIncomplete) return false;
  if (h.status == net::ProxyHeader::kError || h.consumed != in_len_) {
    spdlog::debug("Closing connection from {}: {}", peer,
                  h.status == net::ProxyHeader::kError ? h.error : "bad PROXY header length");
    close();
    return false;
  }
  if (h.has_source) set_peer(h.source, h.source_port);
  in_len_ = 0;
  return make_ssl(tls_after_proxy_);
}

void Connection::handshake(short what) {
  std::string_view peer(addr_, addr_len_);
  if (what & EV_TIMEOUT) {
    spdlog::debug("Closing connection from {}: TLS handshake not completed in time", peer);
    tls_broken_ = true;
    close();
    return;
  }
  if (ssl_ == nullptr && !read_proxy_before_tls()) {
    if (state_ == State::kHandshaking) wait_for_handshake(SSL_ERROR_WANT_READ);
    return;
  }
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    event_del(&write_ev_);
    ktls_send_ = BIO_get_ktls_send(SSL_get_wbio(ssl_)) != 0;
    if (X509* cert = SSL_get0_peer_certificate(ssl_);
        cert != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK) {
      client_s_dn_ = tls::name_text(X509_get_subject_name(cert));
      client_i_dn_ = tls::name_text(X509_get_issuer_name(cert));
    }
    enter(State::kReadingHead);
    head_deadline_set_ = false;  // the head gets its own header_timeout from here
    readable(EV_READ);           // the request may have come right behind the client's Finished
    if (state_ == State::kReadingHead) arm_head_timer();
    return;
  }
  int e = SSL_get_error(ssl_, r);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return handshake_failed(e);
  wait_for_handshake(e);
}

void Connection::wait_for_handshake(int e) {
  timeval tv{};
  timeval* deadline = nullptr;
  if (head_deadline_set_) {
    auto left = std::chrono::duration<double>(head_deadline_ - std::chrono::steady_clock::now());
    tv = to_timeval(std::max(left.count(), 0.001));
    deadline = &tv;
  }
  if (e == SSL_ERROR_WANT_READ) {
    event_del(&write_ev_);
    event_add(&read_ev_, deadline);
  } else {
    event_del(&read_ev_);
    event_add(&write_ev_, deadline);
  }
}

// Client faults (garbage, plain HTTP, a refused certificate, a reset) are logged at debug,
// as malformed HTTP requests are: a scanner must not flood the log.
void Connection::handshake_failed(int ssl_error) {
  std::string_view peer(addr_, addr_len_);
  tls_broken_ = true;
  unsigned long err = ERR_peek_error();
  if (ssl_error == SSL_ERROR_SSL && ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST) {
    // Plain HTTP on the TLS port: say so in plain HTTP, as nginx does, then linger so the
    // unread rest of the request does not turn our answer into a reset.
    ERR_clear_error();
    spdlog::debug("Closing connection from {}: plain HTTP sent to a TLS port", peer);
    static constexpr char kAnswer[] =
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n"
        "Content-Length: 43\r\n\r\nThis port speaks HTTPS: use https:// URLs.\n";
    ssize_t sent = ::send(fd_.get(), kAnswer, sizeof kAnswer - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)sent;  // best effort: the client is wrong either way
    linger_ = true;
    return close_after_response();
  }
  std::string why;
  if (ssl_error == SSL_ERROR_SYSCALL) {
    why = errno != 0 ? std::strerror(errno) : "the client closed the connection";
    ERR_clear_error();
  } else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    why = "the client closed the connection";
  } else {
    why = tls::openssl_error();
  }
  spdlog::debug("TLS handshake with {} failed: {}", peer, why);
  close();
}

ssize_t Connection::tls_failed(int ssl_error, bool reading) {
  switch (ssl_error) {
    case SSL_ERROR_WANT_READ:
      tls_wants_ = POLLIN;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      tls_wants_ = POLLOUT;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:  // close_notify (or, with suppress_ragged_eofs, a bare EOF)
      if (reading) return 0;
      errno = EPIPE;
      return -1;
    case SSL_ERROR_SYSCALL:
      tls_broken_ = true;
      ERR_clear_error();
      if (errno == 0) errno = ECONNRESET;
      return -1;
    default: {
      tls_broken_ = true;
      unsigned long err = ERR_peek_error();
      std::string why = tls::openssl_error();
      if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        why = "closed without close_notify (possible truncation)";
      }
      spdlog::debug("TLS error on the connection from {}: {}", std::string_view(addr_, addr_len_),
                    why);
      errno = ECONNRESET;
      return -1;
    }
  }
}

// Reads what one record holds, and whatever OpenSSL already has (decrypted, or read ahead and
// not yet decrypted): bytes left inside OpenSSL would not make the socket readable again.
ssize_t Connection::tls_recv(char* buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    size_t n = 0;
    int r = SSL_read_ex(ssl_, buf + got, len - got, &n);
    if (r != 1) {
      if (got > 0) {
        ERR_clear_error();  // what was read counts; the error shows again on the next read
        break;
      }
      return tls_failed(SSL_get_error(ssl_, r), true);
    }
    got += n;
    if (SSL_has_pending(ssl_) == 0) break;
  }
  return static_cast<ssize_t>(got);
}

ssize_t Connection::tls_write(const char* data, size_t len) {
  size_t n = 0;
  int r = SSL_write_ex(ssl_, data, len, &n);
  if (r == 1) return static_cast<ssize_t>(n);
  return tls_failed(SSL_get_error(ssl_, r), false);
}

// The head and the start of the body go out as one record, as the plain path's one writev
// sends them in one segment. The record is a function of the unsent bytes alone, so a retry
// after EAGAIN offers OpenSSL the same bytes it was given (its retry rule).
ssize_t Connection::tls_writev(const iovec* iov, int count) {
  int first = 0;
  while (first < count && iov[first].iov_len == 0) ++first;
  if (first == count) return 0;
  const char* base = static_cast<const char*>(iov[first].iov_base);
  if (first + 1 == count || iov[first].iov_len >= kRecord)
    return tls_write(base, iov[first].iov_len);
  char record[kRecord];
  size_t used = 0;
  for (int i = first; i < count && used < kRecord; ++i) {
    size_t take = std::min(iov[i].iov_len, kRecord - used);
    std::memcpy(record + used, iov[i].iov_base, take);
    used += take;
  }
  return tls_write(record, used);
}

// A file over TLS. With kTLS (BIO_get_ktls_send) the kernel encrypts and SSL_sendfile keeps
// the zero-copy path; without it (this machine's kernel has no tls module) the file is read
// into a buffer and written with SSL_write, the buffer keeping what a short write left.
ssize_t Connection::tls_sendfile(off_t* offset, size_t len) {
  if (ktls_send_) {
    ossl_ssize_t n = SSL_sendfile(ssl_, file_.get(), *offset, len, 0);
    if (n >= 0) {
      *offset += n;
      return n;
    }
    return tls_failed(SSL_get_error(ssl_, static_cast<int>(n)), false);
  }
  if (!file_buf_) file_buf_.reset(new char[kFileChunk]);
  if (file_buf_pos_ == file_buf_len_) {
    ssize_t r = pread(file_.get(), file_buf_.get(), std::min(len, kFileChunk), *offset);
    if (r <= 0) return r;  // a file shorter than promised: the caller closes
    file_buf_len_ = static_cast<size_t>(r);
    file_buf_pos_ = 0;
  }
  ssize_t n = tls_write(file_buf_.get() + file_buf_pos_, file_buf_len_ - file_buf_pos_);
  if (n > 0) {
    file_buf_pos_ += static_cast<size_t>(n);
    *offset += n;
  }
  return n;
}

// close_notify, once, without waiting for the client's: it tells the client the response
// is complete rather than cut off. Never after a fatal error (RFC 8446 §6.2).
void Connection::tls_shutdown() {
  if (ssl_ == nullptr) return;
  if (!tls_broken_ && SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
}

void Connection::tls_free() {
  if (ssl_ == nullptr) return;
  SSL_free(ssl_);
  ssl_ = nullptr;
  file_buf_len_ = file_buf_pos_ = 0;
}

std::string_view Connection::tls_var(std::string_view name) const {
  if (ssl_ == nullptr) return {};
  if (name == "HTTPS") return "on";
  if (name == "SSL_PROTOCOL") return SSL_get_version(ssl_);
  if (name == "SSL_CIPHER") return SSL_get_cipher_name(ssl_);
  if (name == "SSL_CLIENT_VERIFY") return client_s_dn_.empty() ? "NONE" : "SUCCESS";
  if (name == "SSL_CLIENT_S_DN") return client_s_dn_;
  if (name == "SSL_CLIENT_I_DN") return client_i_dn_;
  return {};
}

}  // namespace cppicorn::worker
