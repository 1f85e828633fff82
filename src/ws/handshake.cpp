// Validation of the client's opening handshake and the server's 101 (RFC 6455 4.2.1, 4.2.2).
#include "ws/handshake.h"

#include <algorithm>

#include "http/chars.h"
#include "ws/sha1.h"

namespace cppicorn::ws {
namespace {

namespace chars = http::chars;

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  const char* hit = std::find(kBase64, kBase64 + 64, c);
  return hit == kBase64 + 64 ? -1 : static_cast<int>(hit - kBase64);
}

// 16 bytes in base64 are 22 digits and "==". The last digit carries 2 bits of data, so its
// low 4 bits must be zero; every client encodes that way, and one spelling per key keeps
// checks simple.
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    if (base64_value(key[i]) < 0) return false;
  }
  return (base64_value(key[21]) & 0x0F) == 0;
}

bool has_element(std::string_view value, std::string_view lower_token) {
  bool found = false;
  chars::for_each_element(value, [&](std::string_view t) {
    if (chars::iequals(t, lower_token)) found = true;
  });
  return found;
}

}  // namespace

bool Offer::offers(std::string_view subprotocol) const {
  return std::find(subprotocols.begin(), subprotocols.end(), subprotocol) != subprotocols.end();
}

bool is_websocket_upgrade(const http::Request& req) {
  return std::any_of(req.headers.begin(), req.headers.end(), [](const http::Header& h) {
    return chars::iequals(h.name, "upgrade") && has_element(h.value, "websocket");
  });
}

HandshakeError check_handshake(const http::Request& req, Offer& out) {
  out.key = {};
  out.subprotocols.clear();
  if (req.method != "GET") return {400, "WebSocket handshake is not a GET"};
  if (req.version_minor != 1) return {400, "WebSocket handshake is not HTTP/1.1"};
  if (req.body == http::BodyKind::kChunked ||
      (req.body == http::BodyKind::kLength && req.content_length != 0)) {
    return {400, "WebSocket handshake with a body"};
  }
  bool upgrade = false, connection_upgrade = false, bad_protocol = false;
  size_t versions = 0, keys = 0;
  std::string_view version;
  for (const http::Header& h : req.headers) {
    if (chars::iequals(h.name, "upgrade")) {
      upgrade = upgrade || has_element(h.value, "websocket");
    } else if (chars::iequals(h.name, "connection")) {
      connection_upgrade = connection_upgrade || has_element(h.value, "upgrade");
    } else if (chars::iequals(h.name, "sec-websocket-version")) {
      ++versions;
      version = h.value;
    } else if (chars::iequals(h.name, "sec-websocket-key")) {
      ++keys;
      out.key = h.value;
    } else if (chars::iequals(h.name, "sec-websocket-protocol")) {
      // Empty list elements are ignored (RFC 9110 5.6.1.2); anything else must be a token.
      chars::for_each_element(h.value, [&](std::string_view t) {
        if (t.empty()) return;
        if (chars::all_of(chars::kToken, t)) {
          out.subprotocols.push_back(t);
        } else {
          bad_protocol = true;
        }
      });
    }
  }
  if (!upgrade) return {400, "Upgrade does not name websocket"};
  if (!connection_upgrade) return {400, "Connection does not include upgrade"};
  if (versions > 1) return {400, "repeated Sec-WebSocket-Version"};
  if (version != "13") return {426, "unsupported or missing Sec-WebSocket-Version"};
  if (keys != 1)
    return {400, keys == 0 ? "missing Sec-WebSocket-Key" : "repeated Sec-WebSocket-Key"};
  if (!valid_key(out.key)) return {400, "invalid Sec-WebSocket-Key"};
  if (bad_protocol) return {400, "invalid Sec-WebSocket-Protocol"};
  return {};
}

std::array<char, 28> accept_value(std::string_view key) {
  char input[24 + kGuid.size()];
  const size_t n = std::min<size_t>(key.size(), 24);
  std::copy_n(key.data(), n, input);
  std::copy(kGuid.begin(), kGuid.end(), input + n);
  const std::array<uint8_t, 20> digest = sha1({input, n + kGuid.size()});
  // 20 bytes: six groups of three, then two bytes with one '=' of padding.
  std::array<char, 28> out{};
  size_t o = 0;
  for (size_t i = 0; i < 18; i += 3) {
    const uint32_t v = (uint32_t{digest[i]} << 16) | (uint32_t{digest[i + 1]} << 8) | digest[i + 2];
    for (int s = 18; s >= 0; s -= 6) out[o++] = kBase64[(v >> s) & 0x3F];
  }
  const uint32_t v = (uint32_t{digest[18]} << 16) | (uint32_t{digest[19]} << 8);
  out[o++] = kBase64[(v >> 18) & 0x3F];
  out[o++] = kBase64[(v >> 12) & 0x3F];
  out[o++] = kBase64[(v >> 6) & 0x3F];
  out[o] = '=';
  return out;
}

void render_accept(std::string_view key, std::string_view subprotocol, std::string_view app_fields,
                   std::string_view server, http::DateCache& date, std::string& out) {
  const std::array<char, 28> accept = accept_value(key);
  std::string fields;
  fields.reserve(128 + subprotocol.size() + app_fields.size());
  fields.append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
  fields.append(accept.data(), accept.size());
  fields.append("\r\n");
  if (!subprotocol.empty()) {
    fields.append("Sec-WebSocket-Protocol: ");
    fields.append(subprotocol);
    fields.append("\r\n");
  }
  fields.append(app_fields);
  http::ResponseHead head;
  head.status = 101;
  head.framing = http::Framing::kNoBody;
  head.app_fields = fields;
  head.server = server;
  http::render_head(head, date, out);
}

void render_refusal(const HandshakeError& error, std::string_view server, http::DateCache& date,
                    std::string& out) {
  http::render_error(error.http_status, error.reason, server, date, out,
                     error.http_status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "");
}

}  // namespace cppicorn::ws
