// The server's TLS configuration for one generation: an SSL_CTX the master builds from the
// settings before it forks (so the key is read with the master's privileges, or from systemd's
// $CREDENTIALS_DIRECTORY), checked before use (key matches, expiry logged), shared read-only by
// the workers of that generation.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>

#include "config/settings.h"

namespace cppicorn::tls {

class TicketKeys;

// One built SSL_CTX and what the logs say about its certificate.
// Made by build(); immutable afterwards (a HUP builds a new one).
class Context {
 public:
  // Builds the context, or returns null with *error naming the file and the problem
  // ("certfile /x.pem: ...", "keyfile /k.pem does not match certfile /x.pem").
  static std::shared_ptr<Context> build(const config::Settings& s, TicketKeys* keys,
                                        std::string* error);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  SSL_CTX* get() const { return ctx_; }
  // "CN=example.org, expires 2027-03-01 12:00:00 UTC (89 days)" for the logs.
  const std::string& describe() const { return description_; }
  // Days until the certificate expires (negative: expired).
  int days_left() const { return days_left_; }

 private:
  explicit Context(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
  std::string description_;
  int days_left_ = 0;
};

// Where a certfile/keyfile/ca_certs value is read from: a bare file name that exists in
// $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) is read from there, anything else as given.
std::string credential_path(const std::string& value);

// A distinguished name in RFC 2253 form ("CN=client,O=Example"), as nginx's $ssl_client_s_dn.
std::string name_text(const X509_NAME* name);

// The oldest OpenSSL error on this thread's queue as text, and the queue cleared.
std::string openssl_error();

// Logs the certificate's expiry: warning under kWarnDays, error once expired.
void log_expiry(const Context& c);
inline constexpr int kWarnDays = 14;

}  // namespace cppicorn::tls
