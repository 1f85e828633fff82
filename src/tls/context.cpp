#include "tls/context.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "tls/ticket_keys.h"
#include "util/unique_fd.h"

namespace cppicorn::tls {
namespace {

// ALPN: HTTP/1.1 is what we speak; a client offering only other protocols (h2 alone) gets
// the fatal no_application_protocol alert (RFC 7301 §3.2) instead of a protocol it did not ask
// for. OpenSSL parses the client's list.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static const unsigned char kOurs[] = "\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kOurs, sizeof kOurs - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// kTLS needs the kernel's "tls" upper-layer protocol. Asked to use kTLS where the kernel has
// none, OpenSSL tries to attach it after every handshake anyway: two failed setsockopt calls
// per connection (TCP_ULP, TLS_TX). The probe attaches it once to an unconnected socket: a
// kernel with the ULP (or its module, which this loads as a real attach would) answers
// ENOTCONN, one without it ENOENT.
bool kernel_has_ktls() {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return false;
  static const char kUlp[] = "tls";
  return setsockopt(fd.get(), IPPROTO_TCP, TCP_ULP, kUlp, sizeof kUlp - 1) == 0 || errno != ENOENT;
}

std::string time_text(const ASN1_TIME* t) {
  BIO* bio = BIO_new(BIO_s_mem());
  ASN1_TIME_print(bio, t);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

}  // namespace

std::string name_text(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  const char* reason = ERR_reason_error_string(e);
  return reason ? std::string(reason) : std::string(buf);
}

std::string credential_path(const std::string& value) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || value.empty() || value.find('/') != std::string::npos) return value;
  std::string candidate = std::string(dir) + "/" + value;
  struct stat st {};
  return stat(candidate.c_str(), &st) == 0 ? candidate : value;
}

std::shared_ptr<Context> Context::build(const config::Settings& s, TicketKeys* keys,
                                        std::string* error) {
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) {
    *error = "cannot create a TLS context: " + openssl_error();
    return nullptr;
  }
  std::shared_ptr<Context> c(new Context(raw));
  SSL_CTX* ctx = raw;
  auto fail = [&](std::string what) {
    *error = std::move(what) + ": " + openssl_error();
    return nullptr;
  };
  const std::string cert = credential_path(s.certfile);
  const std::string key = credential_path(s.keyfile.empty() ? s.certfile : s.keyfile);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return fail("certfile " + cert);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("keyfile " + key);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail("keyfile " + key + " does not match certfile " + cert);
  }
  int min = s.tls_min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min);
  if (!s.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1) {
    return fail("ciphers '" + s.ciphers + "'");
  }
  if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1) {
    return fail("ciphersuites '" + s.ciphersuites + "'");
  }
  if (s.cert_reqs != "none") {
    if (s.ca_certs.empty()) {
      *error =
          "cert_reqs " + s.cert_reqs + " needs ca_certs (the CAs that sign client certificates)";
      return nullptr;
    }
    const std::string ca = credential_path(s.ca_certs);
    if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) return fail("ca_certs " + ca);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
    if (names == nullptr) return fail("ca_certs " + ca);
    SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (s.cert_reqs == "required") mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
  }
  // Renegotiation is refused (a client-initiated one costs us a handshake on the app's
  // connection); kTLS is used where the kernel has it (SSL_sendfile).
  uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
  static const bool ktls = kernel_has_ktls();
  if (ktls) options |= SSL_OP_ENABLE_KTLS;
  static bool said = false;
  if (!ktls && !std::exchange(said, true)) {
    spdlog::info(
        "TLS: this kernel has no kTLS (no tls module); files over TLS are read and "
        "encrypted by OpenSSL");
  }
  if (s.suppress_ragged_eofs) options |= SSL_OP_IGNORE_UNEXPECTED_EOF;
  SSL_CTX_set_options(ctx, options);
  // Idle keep-alive connections give their 34 KiB of record buffers back, as nginx does;
  // partial writes let the event loop send a large body record by record.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read-ahead, as nginx: one read(2) takes what the socket has (the client's Finished and
  // its request arrive together), not two per record (its 5-byte header, then the rest).
  // Bytes OpenSSL holds unprocessed do not make the socket readable: the connection asks
  // SSL_has_pending() before it waits (connection_tls.cpp, Connection::arm_read).
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  // Resumption is by tickets only, with keys every worker shares: a per-worker session cache
  // would resume only on the worker that happened to make the session.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  static const unsigned char kSessionContext[] = "cppicorn";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_num_tickets(ctx, 1);
  if (keys != nullptr) keys->install(ctx);

  X509* x = SSL_CTX_get0_certificate(ctx);
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(x));
  c->days_left_ = days;
  c->description_ = name_text(X509_get_subject_name(x)) + ", expires " +
                    time_text(X509_get0_notAfter(x)) + " (" + std::to_string(days) + " days)";
  return c;
}

Context::~Context() { SSL_CTX_free(ctx_); }

void log_expiry(const Context& c) {
  if (c.days_left() < 0) {
    spdlog::error("TLS certificate has expired: {}", c.describe());
  } else if (c.days_left() < kWarnDays) {
    spdlog::warn("TLS certificate expires soon: {}", c.describe());
  } else {
    spdlog::info("TLS certificate: {}", c.describe());
  }
}

}  // namespace cppicorn::tls
