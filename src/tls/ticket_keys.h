// Session-ticket keys shared by every worker: the master makes them in a shared mapping before
// it forks and rotates them, so a ticket one worker issued resumes on any other, and across a
// HUP (the mapping outlives the SSL_CTX generations).
#pragma once

#include <openssl/types.h>

#include <atomic>
#include <cstdint>

namespace cppicorn::tls {

// One key: its name (sent in the ticket), and the AES-256 and HMAC-SHA256 secrets.
struct TicketKey {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
};

// The shared keys, MAP_SHARED so the master's rotations reach running workers. The master
// writes (under a sequence lock); workers only read, from OpenSSL's ticket callback.
class TicketKeys {
 public:
  // Rotation period; a ticket lives as long (the previous key still decrypts it).
  static constexpr int64_t kPeriodSeconds = 3600;

  TicketKeys();
  ~TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // Master: makes a new current key when the current one is kPeriodSeconds old.
  void rotate_if_due(int64_t now_seconds);
  // Makes the SSL_CTX encrypt and decrypt its tickets with these keys.
  void install(SSL_CTX* ctx);

 private:
  struct Block {
    std::atomic<uint64_t> seq;
    int64_t created;    // when keys[0] was made (seconds, monotonic)
    TicketKey keys[2];  // [0] encrypts and decrypts, [1] (the previous) only decrypts
  };
  // Copies out a consistent view (retrying while the master writes).
  void snapshot(TicketKey out[2]) const;
  static int callback(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                      EVP_MAC_CTX* mac, int enc);

  Block* block_ = nullptr;
};

}  // namespace cppicorn::tls
