// The WebSocket opening handshake, server side (RFC 6455 section 4.2).
//
// The worker routes a request whose Upgrade field names websocket (is_websocket_upgrade) here
// instead of to the HTTP app. check_handshake() validates it strictly and collects the key and
// the offered subprotocols (views into the request's buffer). The ASGI worker puts those in
// the `websocket` scope and waits for the app: on `websocket.accept` it sends render_accept()
// with the chosen subprotocol and the app's headers, then speaks frames (ws/frame.h); on an
// invalid handshake it sends render_refusal() and closes, and the app is never called.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"
#include "http/response.h"

namespace cppicorn::ws {

// What the client offered in a valid handshake.
struct Offer {
  std::string_view key;                        // Sec-WebSocket-Key
  std::vector<std::string_view> subprotocols;  // Sec-WebSocket-Protocol tokens, in order
  bool offers(std::string_view subprotocol) const;
};

// A refused handshake: the status to answer (400, or 426 for a version other than 13) and
// why. http_status 0 means the handshake is valid.
struct HandshakeError {
  int http_status = 0;
  std::string_view reason;  // static storage
  explicit operator bool() const { return http_status != 0; }
};

// True when the request asks to switch to WebSocket (an Upgrade element "websocket", any
// case), whether or not the rest of the handshake is valid.
bool is_websocket_upgrade(const http::Request& req);

// Validates a WebSocket handshake request: GET, HTTP/1.1, no body, Upgrade: websocket,
// Connection with the upgrade option, exactly one Sec-WebSocket-Version (13, else 426) and
// one Sec-WebSocket-Key (16 bytes in canonical base64), well-formed subprotocol tokens.
// Extensions offered are ignored: none are supported. Fills `out` (reused; cleared first).
HandshakeError check_handshake(const http::Request& req, Offer& out);

// The Sec-WebSocket-Accept value for `key`: base64(SHA-1(key + the RFC's GUID)).
std::array<char, 28> accept_value(std::string_view key);

// Appends the 101 response that completes the handshake. `subprotocol` (empty: none) must be
// one the client offered; `app_fields` are "Name: value\r\n" lines already validated.
void render_accept(std::string_view key, std::string_view subprotocol, std::string_view app_fields,
                   std::string_view server, http::DateCache& date, std::string& out);

// Appends the response refusing an invalid handshake (Connection: close; a 426 names the
// version the server speaks in Sec-WebSocket-Version).
void render_refusal(const HandshakeError& error, std::string_view server, http::DateCache& date,
                    std::string& out);

}  // namespace cppicorn::ws
