// Unit tests of the opening handshake: requests parsed by the real HTTP parser, each refusal
// with its status, the RFC's Sec-WebSocket-Accept example, subprotocols and the 101 head.
#include "ws/handshake.h"

#include <gtest/gtest.h>

#include <string>

#include "http/parser.h"

namespace cppicorn::ws {
namespace {

constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 1.3

// A valid handshake with `fields` ("Name: value\r\n" lines) added; `replace` drops the
// default field of that name first.
std::string request(const std::string& fields = "", const std::string& drop = "",
                    const std::string& line = "GET /chat HTTP/1.1") {
  std::string out = line + "\r\nHost: server.example.com\r\n";
  const std::pair<const char*, std::string> defaults[] = {
      {"Upgrade", "websocket"},
      {"Connection", "Upgrade"},
      {"Sec-WebSocket-Key", kKey},
      {"Sec-WebSocket-Version", "13"},
  };
  for (const auto& [name, value] : defaults) {
    if (drop != name) out += std::string(name) + ": " + value + "\r\n";
  }
  return out + fields + "\r\n";
}

struct Checked {
  HandshakeError error;
  Offer offer;
  bool upgrade = false;
};

Checked check(const std::string& raw) {
  static std::string buf;  // the views in the request point here
  buf = raw;
  http::RequestParser parser{http::Limits{}};
  http::Request req;
  const http::ParseResult r = parser.parse(buf, req);
  EXPECT_EQ(r.status, http::ParseResult::kComplete) << raw;
  Checked c;
  c.upgrade = is_websocket_upgrade(req);
  c.error = check_handshake(req, c.offer);
  return c;
}

int status(const std::string& raw) { return check(raw).error.http_status; }

TEST(Handshake, AcceptValueOfTheRfcExample) {
  const std::array<char, 28> v = accept_value(kKey);
  EXPECT_EQ(std::string(v.data(), v.size()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, ValidRequest) {
  Checked c = check(request());
  EXPECT_FALSE(c.error) << c.error.reason;
  EXPECT_TRUE(c.upgrade);
  EXPECT_EQ(c.offer.key, kKey);
  EXPECT_TRUE(c.offer.subprotocols.empty());
  // Case and list forms of Upgrade and Connection; an empty Content-Length body.
  EXPECT_EQ(status(request("Upgrade: h2c, WebSocket\r\n", "Upgrade")), 0);
  EXPECT_EQ(status(request("Connection: keep-alive, UPGRADE\r\n", "Connection")), 0);
  EXPECT_EQ(status(request("Connection: keep-alive\r\nConnection: upgrade\r\n", "Connection")), 0);
  EXPECT_EQ(status(request("Content-Length: 0\r\n")), 0);
  // Extensions are ignored, not refused.
  EXPECT_EQ(status(request("Sec-WebSocket-Extensions: permessage-deflate\r\n")), 0);
}

TEST(Handshake, PlainRequestIsNoUpgrade) {
  Checked c = check("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_FALSE(c.upgrade);
  EXPECT_EQ(c.error.http_status, 400);
  EXPECT_FALSE(check(request("Upgrade: h2c\r\n", "Upgrade")).upgrade);
}

TEST(Handshake, Refusals) {
  EXPECT_EQ(status(request("", "", "POST /chat HTTP/1.1")), 400);
  EXPECT_EQ(status(request("", "", "GET /chat HTTP/1.0")), 400);
  EXPECT_EQ(status(request("Content-Length: 3\r\n")), 400);
  EXPECT_EQ(status(request("Transfer-Encoding: chunked\r\n")), 400);
  EXPECT_EQ(status(request("", "Connection")), 400);
  EXPECT_EQ(status(request("Connection: keep-alive\r\n", "Connection")), 400);
  EXPECT_EQ(status(request("Sec-WebSocket-Version: 13\r\n")), 400);  // repeated
  EXPECT_EQ(status(request("", "Sec-WebSocket-Key")), 400);
  EXPECT_EQ(status(request(std::string("Sec-WebSocket-Key: ") + kKey + "\r\n")), 400);
  EXPECT_EQ(check(request("", "Sec-WebSocket-Key")).error.reason, "missing Sec-WebSocket-Key");
  EXPECT_EQ(check(request("", "", "PUT / HTTP/1.1")).error.reason,
            "WebSocket handshake is not a GET");
}

TEST(Handshake, VersionOtherThanThirteenIs426) {
  EXPECT_EQ(status(request("Sec-WebSocket-Version: 8\r\n", "Sec-WebSocket-Version")), 426);
  EXPECT_EQ(status(request("Sec-WebSocket-Version: 13, 8\r\n", "Sec-WebSocket-Version")), 426);
  EXPECT_EQ(status(request("", "Sec-WebSocket-Version")), 426);
  http::DateCache date;
  std::string out;
  render_refusal(check(request("Sec-WebSocket-Version: 7\r\n", "Sec-WebSocket-Version")).error,
                 "cppicorn", date, out);
  EXPECT_EQ(out.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos) << out;
  out.clear();
  render_refusal(check(request("", "Connection")).error, "", date, out);
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("Sec-WebSocket-Version"), std::string::npos) << out;
}

TEST(Handshake, KeyMustBeSixteenBytesInBase64) {
  auto with_key = [](const std::string& key) {
    return status(request("Sec-WebSocket-Key: " + key + "\r\n", "Sec-WebSocket-Key"));
  };
  EXPECT_EQ(with_key("AAAAAAAAAAAAAAAAAAAAAA=="), 0);
  EXPECT_EQ(with_key("+/+/+/+/+/+/+/+/+/+/+w=="), 0);
  EXPECT_EQ(with_key("AAAAAAAAAAAAAAAAAAAAAA="), 400);   // short
  EXPECT_EQ(with_key("AAAAAAAAAAAAAAAAAAAAAAA="), 400);  // 17 bytes
  EXPECT_EQ(with_key("AAAAAAAAAAAAAAAAAAAAAAAA"), 400);  // 18 bytes
  EXPECT_EQ(with_key("AAAAAAAAAAAAAAAAAAAAAB=="), 400);  // non-zero padding bits
  EXPECT_EQ(with_key("AAAAAAAAAAAAAAAAAAAA-A=="), 400);  // base64url digit
  EXPECT_EQ(with_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 400);
  EXPECT_EQ(with_key("c2hvcnQ="), 400);
}

TEST(Handshake, Subprotocols) {
  Checked c =
      check(request("Sec-WebSocket-Protocol: chat, superchat\r\n"
                    "Sec-WebSocket-Protocol: v2.json,,\r\n"));
  ASSERT_FALSE(c.error) << c.error.reason;
  ASSERT_EQ(c.offer.subprotocols.size(), 3u);
  EXPECT_EQ(c.offer.subprotocols[0], "chat");
  EXPECT_EQ(c.offer.subprotocols[1], "superchat");
  EXPECT_EQ(c.offer.subprotocols[2], "v2.json");
  EXPECT_TRUE(c.offer.offers("superchat"));
  EXPECT_FALSE(c.offer.offers("Chat"));  // tokens are compared exactly
  EXPECT_EQ(status(request("Sec-WebSocket-Protocol: chat, a b\r\n")), 400);
  EXPECT_EQ(status(request("Sec-WebSocket-Protocol: \"chat\"\r\n")), 400);
  EXPECT_EQ(status(request("Sec-WebSocket-Protocol: chat/1\r\n")), 400);
}

TEST(Handshake, AcceptHead) {
  http::DateCache date;
  std::string out;
  render_accept(kKey, "chat", "X-Extra: 1\r\n", "cppicorn", date, out);
  EXPECT_EQ(out.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << out;
  for (const char* line : {"\r\nUpgrade: websocket\r\n", "\r\nConnection: Upgrade\r\n",
                           "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
                           "\r\nSec-WebSocket-Protocol: chat\r\n", "\r\nX-Extra: 1\r\n",
                           "\r\nServer: cppicorn\r\n", "\r\nDate: "}) {
    EXPECT_NE(out.find(line), std::string::npos) << line << " in " << out;
  }
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
  out.clear();
  render_accept(kKey, "", "", "", date, out);
  EXPECT_EQ(out.find("Sec-WebSocket-Protocol"), std::string::npos) << out;
  EXPECT_EQ(out.find("Server:"), std::string::npos) << out;
}

}  // namespace
}  // namespace cppicorn::ws
