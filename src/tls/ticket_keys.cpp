#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/mman.h>
#include <time.h>

#include <cstring>
#include <new>
#include <stdexcept>

namespace cppicorn::tls {
namespace {

int64_t now_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

// Fetched once: EVP_aes_256_cbc() would make OpenSSL 3 look the implementation up again on
// every ticket it seals or opens.
const EVP_CIPHER* ticket_cipher() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

void fill(TicketKey* k) {
  if (RAND_bytes(reinterpret_cast<unsigned char*>(k), sizeof *k) != 1) {
    throw std::runtime_error("RAND_bytes failed: cannot make a session ticket key");
  }
}

}  // namespace

TicketKeys::TicketKeys() {
  void* p = mmap(nullptr, sizeof(Block), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("mmap of the session ticket keys failed");
  block_ = new (p) Block{};
  block_->created = now_seconds();
  fill(&block_->keys[0]);
  fill(&block_->keys[1]);
}

TicketKeys::~TicketKeys() {
  if (block_) munmap(block_, sizeof(Block));
}

void TicketKeys::rotate_if_due(int64_t now) {
  if (now - block_->created < kPeriodSeconds) return;
  TicketKey fresh{};
  fill(&fresh);
  block_->seq.fetch_add(1, std::memory_order_acq_rel);  // odd: readers retry
  std::atomic_thread_fence(std::memory_order_release);
  block_->keys[1] = block_->keys[0];
  block_->keys[0] = fresh;
  block_->created = now;
  block_->seq.fetch_add(1, std::memory_order_release);
}

void TicketKeys::snapshot(TicketKey out[2]) const {
  for (;;) {
    uint64_t before = block_->seq.load(std::memory_order_acquire);
    if (before & 1) continue;
    std::memcpy(out, block_->keys, sizeof block_->keys);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (block_->seq.load(std::memory_order_relaxed) == before) return;
  }
}

void TicketKeys::install(SSL_CTX* ctx) {
  SSL_CTX_set_app_data(ctx, this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, callback);
  SSL_CTX_set_timeout(ctx, kPeriodSeconds);
}

// OpenSSL's contract: encrypting, fill name and iv and init both contexts, return 1; decrypting,
// return 0 for an unknown key (full handshake), 1 for the current key, 2 for an older one
// (valid, but the client gets a fresh ticket).
int TicketKeys::callback(SSL* ssl, unsigned char name[16], unsigned char* iv,
                         EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  auto* self = static_cast<TicketKeys*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  TicketKey keys[2]{};
  self->snapshot(keys);
  const TicketKey* key = &keys[0];
  int result = 1;
  if (enc) {
    std::memcpy(name, key->name, sizeof key->name);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(ticket_cipher())) != 1) return -1;
  } else if (std::memcmp(name, keys[0].name, 16) != 0) {
    if (std::memcmp(name, keys[1].name, 16) != 0) return 0;
    key = &keys[1];
    result = 2;
  }
  if (ticket_cipher() == nullptr ||
      (enc ? EVP_EncryptInit_ex(cipher, ticket_cipher(), nullptr, key->aes, iv)
           : EVP_DecryptInit_ex(cipher, ticket_cipher(), nullptr, key->aes, iv)) != 1) {
    return -1;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac),
                                        sizeof key->hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return result;
}

}  // namespace cppicorn::tls
