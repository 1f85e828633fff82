// PROXY protocol v1 (text) and v2 (binary) header parser (haproxy's proxy-protocol.txt),
// fed the bytes received so far on a connection; the header may arrive split across reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/ip_allow.h"

namespace cppicorn::net {

struct ProxyHeader {
  enum Status { kIncomplete, kComplete, kError } status = kIncomplete;
  size_t consumed = 0;  // header bytes to drop before the HTTP request (when kComplete)
  // False for "UNKNOWN" (v1), LOCAL, and AF_UNSPEC/AF_UNIX (v2): the proxy itself speaks,
  // or the client address is not an IP, so the connection's own peer address stands.
  bool has_source = false;
  Ip16 source{};
  uint16_t source_port = 0;
  std::string_view error;  // static text (when kError)
};

// Longest v1 header, CRLF included (the spec's 107) and the largest v2 header accepted. v2
// allows 16 + 65535 bytes; TLVs real proxies send (ALPN, authority, SSL, AWS/Azure ids) are
// far below this bound, which keeps the header inside the connection's first read buffer.
constexpr size_t kProxyV1Max = 107;
constexpr size_t kProxyV2Max = 16 + 4096;

// Parses the header at the start of buf. Decides as early as possible: bytes that cannot
// begin either version are an error at once, so a client speaking plain HTTP is not left
// waiting for the header timeout. Stateless: call again with the grown buffer.
ProxyHeader parse_proxy_header(std::string_view buf);

}  // namespace cppicorn::net
