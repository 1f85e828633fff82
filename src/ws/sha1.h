// SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept (RFC 6455 4.2.2), where the protocol
// fixes the hash; it is not used for anything that needs collision resistance.
//
// Written here rather than taken from OpenSSL's libcrypto: about sixty lines for one
// 60-byte input per handshake, and the ws module (and the fuzzers) stay free of a library
// that a server built without TLS does not otherwise link.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace cppicorn::ws {

std::array<uint8_t, 20> sha1(std::string_view data);

}  // namespace cppicorn::ws
