// PROXY protocol v1/v2 parser and the IP allow-list: valid headers, headers split at every
// byte, truncated, malformed and oversize ones.
#include "net/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>

#include "net/ip_allow.h"

namespace cppicorn::net {
namespace {

std::string addr(const ProxyHeader& h) {
  char buf[64];
  return std::string(buf, format_ip(h.source, buf));
}

std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& payload) {
  std::string s("\r\n\r\n\0\r\nQUIT\n", 12);
  s += static_cast<char>(ver_cmd);
  s += static_cast<char>(fam);
  s += static_cast<char>(payload.size() >> 8);
  s += static_cast<char>(payload.size() & 0xff);
  return s + payload;
}

std::string v2_inet(const std::string& tlvs = "") {
  // 10.1.2.3:4660 -> 192.168.0.1:80
  return v2(0x21, 0x11, std::string("\x0a\x01\x02\x03\xc0\xa8\x00\x01\x12\x34\x00\x50", 12) + tlvs);
}

// Every prefix of a valid header is incomplete, never an error: the header may be split.
void expect_split_ok(const std::string& header) {
  for (size_t i = 0; i < header.size(); ++i) {
    EXPECT_EQ(parse_proxy_header(std::string_view(header.data(), i)).status,
              ProxyHeader::kIncomplete)
        << "prefix " << i;
  }
}

TEST(ProxyV1, Tcp4) {
  std::string in = "PROXY TCP4 1.2.3.4 5.6.7.8 111 222\r\nGET / HTTP/1.1\r\n";
  ProxyHeader h = parse_proxy_header(in);
  ASSERT_EQ(h.status, ProxyHeader::kComplete) << h.error;
  EXPECT_EQ(h.consumed, in.find("GET"));
  EXPECT_TRUE(h.has_source);
  EXPECT_EQ(addr(h), "1.2.3.4");
  EXPECT_EQ(h.source_port, 111);
  expect_split_ok(in.substr(0, h.consumed));
}

TEST(ProxyV1, Tcp6) {
  ProxyHeader h = parse_proxy_header("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
  ASSERT_EQ(h.status, ProxyHeader::kComplete) << h.error;
  EXPECT_EQ(addr(h), "2001:db8::1");
  EXPECT_EQ(h.source_port, 65535);
}

TEST(ProxyV1, Unknown) {
  for (std::string in : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ::1 1 2\r\n"}) {
    ProxyHeader h = parse_proxy_header(in);
    ASSERT_EQ(h.status, ProxyHeader::kComplete) << in;
    EXPECT_FALSE(h.has_source);
    EXPECT_EQ(h.consumed, in.size());
  }
}

TEST(ProxyV1, LongestHeaderFits) {
  std::string in =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  EXPECT_EQ(parse_proxy_header(in).status, ProxyHeader::kComplete);
  // 107 bytes is the spec's bound ("PROXY UNKNOWN" followed by anything).
  std::string unknown = "PROXY UNKNOWN " + std::string(kProxyV1Max - 16, 'a') + "\r\n";
  ASSERT_EQ(unknown.size(), kProxyV1Max);
  EXPECT_EQ(parse_proxy_header(unknown).status, ProxyHeader::kComplete);
}

TEST(ProxyV1, Malformed) {
  for (std::string in : {
           "PROXY TCP4 1.2.3.4 5.6.7.8 111\r\n",          // missing port
           "PROXY TCP4 1.2.3.4 5.6.7.8 111 222 3\r\n",    // extra field
           "PROXY TCP4  1.2.3.4 5.6.7.8 111 222\r\n",     // double space
           "PROXY TCP4 1.2.3.4 5.6.7.8 111 222 \r\n",     // trailing space
           "PROXY TCP4 1.2.3.4 5.6.7.8 111 222\n",        // bare LF
           "PROXY TCP4 1.2.3.4 5.6.7.8 111 65536\r\n",    // port out of range
           "PROXY TCP4 1.2.3.4 5.6.7.8 0111 222\r\n",     // leading zero
           "PROXY TCP4 1.2.3.4 5.6.7.8 -1 222\r\n",       // sign
           "PROXY TCP4 1.2.3.256 5.6.7.8 111 222\r\n",    // bad address
           "PROXY TCP4 ::1 ::1 111 222\r\n",              // family mismatch
           "PROXY TCP6 1.2.3.4 5.6.7.8 111 222\r\n",      // family mismatch
           "PROXY UDP4 1.2.3.4 5.6.7.8 111 222\r\n",      // protocol
           "PROXY \r\n",                                  // nothing
           "PROXY TCP4 1.2.3.4\x01 5.6.7.8 111 222\r\n",  // control byte
       }) {
    EXPECT_EQ(parse_proxy_header(in).status, ProxyHeader::kError) << in;
  }
}

// Found by fuzz_proxy_header: a NUL ended the address inet_pton saw, so the complete line
// passed while the same bytes still on their way were refused.
TEST(ProxyV1, ABinaryByteIsAnErrorWhetherTheLineIsCompleteOrNot) {
  for (std::string in : {std::string("PROXY TCP6 ::1 2001:db8::21\0\0 56324 443\r\n", 41),
                         std::string("PROXY TCP4 1.2.3.4 5.6.7.8 111 222\0\r\n", 37),
                         std::string("PROXY UNKNOWN \x7f\r\n", 17)}) {
    EXPECT_EQ(parse_proxy_header(in).status, ProxyHeader::kError) << in;
    EXPECT_EQ(parse_proxy_header(in.substr(0, in.size() - 2)).status, ProxyHeader::kError) << in;
  }
  Ip16 ip;
  EXPECT_FALSE(parse_ip(std::string_view("10.0.0.1\0junk", 13), &ip));
}

TEST(ProxyV1, Oversize) {
  std::string in = "PROXY UNKNOWN " + std::string(200, 'a') + "\r\n";
  EXPECT_EQ(parse_proxy_header(in).status, ProxyHeader::kError);
  // Decided as soon as 107 bytes have come without a line end, not at the CRLF.
  EXPECT_EQ(parse_proxy_header(in.substr(0, kProxyV1Max)).status, ProxyHeader::kError);
  EXPECT_EQ(parse_proxy_header(in.substr(0, kProxyV1Max - 1)).status, ProxyHeader::kIncomplete);
}

TEST(ProxyHeader, NotAProxyHeaderFailsAtOnce) {
  EXPECT_EQ(parse_proxy_header("GET / HTTP/1.1\r\n\r\n").status, ProxyHeader::kError);
  EXPECT_EQ(parse_proxy_header("G").status, ProxyHeader::kError);
  EXPECT_EQ(parse_proxy_header("PROXZ").status, ProxyHeader::kError);
  EXPECT_EQ(parse_proxy_header(std::string("\r\n\r\n\0\r\nQUIX", 12)).status, ProxyHeader::kError);
  EXPECT_EQ(parse_proxy_header("").status, ProxyHeader::kIncomplete);
  EXPECT_EQ(parse_proxy_header("PROX").status, ProxyHeader::kIncomplete);
}

TEST(ProxyV2, Inet) {
  std::string in = v2_inet() + "GET";
  ProxyHeader h = parse_proxy_header(in);
  ASSERT_EQ(h.status, ProxyHeader::kComplete) << h.error;
  EXPECT_EQ(h.consumed, 16u + 12u);
  EXPECT_EQ(addr(h), "10.1.2.3");
  EXPECT_EQ(h.source_port, 0x1234);
  expect_split_ok(v2_inet());
}

TEST(ProxyV2, Inet6WithTlvsSkipped) {
  std::string a(36, '\0');
  a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = static_cast<char>(0xb8), a[15] = 7;
  a[32] = 0x01, a[33] = static_cast<char>(0xbb);
  std::string tlv("\x01\x00\x02h2\x04\x00\x00", 8);  // ALPN "h2", NOOP
  std::string in = v2(0x21, 0x21, a + tlv);
  ProxyHeader h = parse_proxy_header(in);
  ASSERT_EQ(h.status, ProxyHeader::kComplete) << h.error;
  EXPECT_EQ(h.consumed, in.size());
  EXPECT_EQ(addr(h), "2001:db8::7");
  EXPECT_EQ(h.source_port, 443);
  expect_split_ok(in);
}

TEST(ProxyV2, LocalAndUnspecKeepTheSocketAddress) {
  for (std::string in : {v2(0x20, 0x00, ""), v2(0x20, 0x11, std::string(12, 'x')),
                         v2(0x21, 0x00, "junk"), v2(0x21, 0x31, std::string(216, '\0'))}) {
    ProxyHeader h = parse_proxy_header(in);
    ASSERT_EQ(h.status, ProxyHeader::kComplete) << h.error;
    EXPECT_FALSE(h.has_source);
    EXPECT_EQ(h.consumed, in.size());
  }
}

TEST(ProxyV2, Malformed) {
  for (std::string in : {
           v2(0x11, 0x11, std::string(12, '\0')),  // version 1 in a v2 header
           v2(0x22, 0x11, std::string(12, '\0')),  // command 2
           v2(0x21, 0x11, std::string(11, '\0')),  // address block short for INET
           v2(0x21, 0x21, std::string(35, '\0')),  // and for INET6
           v2(0x21, 0x12, std::string(12, '\0')),  // DGRAM
           v2(0x21, 0x41, std::string(12, '\0')),  // family 4
       }) {
    EXPECT_EQ(parse_proxy_header(in).status, ProxyHeader::kError);
  }
}

TEST(ProxyV2, TruncatedWaits) {
  std::string in = v2_inet(std::string(100, '\0'));
  EXPECT_EQ(parse_proxy_header(in.substr(0, in.size() - 1)).status, ProxyHeader::kIncomplete);
  EXPECT_EQ(parse_proxy_header(in.substr(0, 15)).status, ProxyHeader::kIncomplete);
}

TEST(ProxyV2, Oversize) {
  std::string big = v2(0x21, 0x11, std::string(kProxyV2Max - 16 + 1, '\0'));
  // Rejected from the 16 fixed bytes alone, before the payload arrives.
  EXPECT_EQ(parse_proxy_header(big.substr(0, 16)).status, ProxyHeader::kError);
  std::string max = v2(0x21, 0x11, std::string(kProxyV2Max - 16, '\0'));
  EXPECT_EQ(parse_proxy_header(max).status, ProxyHeader::kComplete);
}

TEST(IpAllowList, AddressesNetworksAndStar) {
  IpAllowList l({"127.0.0.1", "10.0.0.0/8", "2001:db8::/32", "192.168.1.128/25"});
  auto ok = [&](const char* s) {
    Ip16 ip;
    EXPECT_TRUE(parse_ip(s, &ip)) << s;
    return l.allows(ip);
  };
  EXPECT_TRUE(ok("127.0.0.1"));
  EXPECT_FALSE(ok("127.0.0.2"));
  EXPECT_TRUE(ok("10.255.1.1"));
  EXPECT_FALSE(ok("11.0.0.1"));
  EXPECT_TRUE(ok("::ffff:10.1.1.1"));  // IPv4-mapped matches IPv4 entries
  EXPECT_TRUE(ok("2001:db8:ffff::1"));
  EXPECT_FALSE(ok("2001:db9::1"));
  EXPECT_TRUE(ok("192.168.1.200"));
  EXPECT_FALSE(ok("192.168.1.100"));
  EXPECT_FALSE(ok("::1"));
  Ip16 any;
  ASSERT_TRUE(parse_ip("8.8.8.8", &any));
  EXPECT_TRUE(IpAllowList({"*"}).allows(any));
  EXPECT_FALSE(IpAllowList(std::vector<std::string>{}).allows(any));
  EXPECT_TRUE(IpAllowList({"0.0.0.0/0"}).allows(any));
  EXPECT_FALSE(IpAllowList({"0.0.0.0/0"}).allows(Ip16{}));  // :: is not IPv4
  EXPECT_FALSE(IpAllowList({"bogus", "1.2.3.4/33"}).allows(any));
}

TEST(IpAllowList, UnixPeersAreTrusted) {
  sockaddr_storage unix_peer{};
  unix_peer.ss_family = AF_UNIX;
  EXPECT_TRUE(IpAllowList({"127.0.0.1"}).allows(unix_peer));
}

TEST(IpFormat, RoundTrip) {
  for (const char* s : {"1.2.3.4", "0.0.0.0", "255.255.255.255", "10.0.100.9", "::1", "2001:db8::7",
                        "::ffff:1.2.3.4"}) {
    Ip16 ip;
    ASSERT_TRUE(parse_ip(s, &ip));
    char buf[64];
    std::string out(buf, format_ip(ip, buf));
    EXPECT_EQ(out, std::string(s) == "::ffff:1.2.3.4" ? "1.2.3.4" : s);
  }
  Ip16 ip;
  EXPECT_FALSE(parse_ip("1.2.3.4:80", &ip));
  EXPECT_FALSE(parse_ip("", &ip));
  EXPECT_FALSE(parse_ip("[::1]", &ip));
}

}  // namespace
}  // namespace cppicorn::net
