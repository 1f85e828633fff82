#include "net/proxy_protocol.h"

#include <algorithm>
#include <cstring>

namespace cppicorn::net {
namespace {

constexpr char kV1Prefix[] = "PROXY ";
constexpr size_t kV1PrefixLen = sizeof kV1Prefix - 1;
constexpr char kV2Sig[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr size_t kV2SigLen = 12;

ProxyHeader fail(std::string_view why) {
  ProxyHeader h;
  h.status = ProxyHeader::kError;
  h.error = why;
  return h;
}

// The next space-separated field of a v1 line; exactly one space between fields.
bool next_field(std::string_view& line, std::string_view* field) {
  size_t sp = line.find(' ');
  *field = line.substr(0, sp);
  line.remove_prefix(sp == std::string_view::npos ? line.size() : sp + 1);
  return !field->empty();
}

bool parse_port(std::string_view s, uint16_t* port) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  *port = static_cast<uint16_t>(v);
  return true;
}

ProxyHeader parse_v1(std::string_view buf) {
  size_t lf = buf.substr(0, kProxyV1Max).find('\n');
  if (lf == std::string_view::npos) {
    if (buf.size() >= kProxyV1Max) return fail("PROXY v1 header too long");
    // Only header characters can precede the CRLF: reject binary junk without waiting.
    for (char c : buf) {
      if (c != '\r' && (c < 0x20 || c > 0x7e)) return fail("PROXY v1 header malformed");
    }
    return {};
  }
  if (lf == 0 || buf[lf - 1] != '\r') return fail("PROXY v1 header without CRLF");
  // The same characters as in a header still on its way (above), so that a header's verdict
  // never depends on how it was split.
  for (char c : buf.substr(0, lf - 1)) {
    if (c < 0x20 || c > 0x7e) return fail("PROXY v1 header malformed");
  }
  std::string_view line = buf.substr(kV1PrefixLen, lf - 1 - kV1PrefixLen);
  ProxyHeader h;
  h.status = ProxyHeader::kComplete;
  h.consumed = lf + 1;
  std::string_view proto;
  if (!next_field(line, &proto)) return fail("PROXY v1 protocol missing");
  // UNKNOWN may be followed by anything (the spec tells receivers to ignore it).
  if (proto == "UNKNOWN") return h;
  if (proto != "TCP4" && proto != "TCP6") return fail("PROXY v1 protocol unsupported");
  if (!line.empty() && line.back() == ' ') return fail("PROXY v1 header malformed");
  std::string_view src, dst, sport, dport;
  if (!next_field(line, &src) || !next_field(line, &dst) || !next_field(line, &sport) ||
      !next_field(line, &dport) || !line.empty()) {
    return fail("PROXY v1 header malformed");
  }
  Ip16 dst_ip;
  uint16_t dst_port;
  if (!parse_ip(src, &h.source) || !parse_ip(dst, &dst_ip) || !parse_port(sport, &h.source_port) ||
      !parse_port(dport, &dst_port)) {
    return fail("PROXY v1 address or port invalid");
  }
  // TCP4 must carry IPv4 and TCP6 IPv6 addresses; "::ffff:1.2.3.4" is still IPv6 text.
  bool v4 = src.find(':') == std::string_view::npos && dst.find(':') == std::string_view::npos;
  bool v6 = src.find(':') != std::string_view::npos && dst.find(':') != std::string_view::npos;
  if ((proto == "TCP4" && !v4) || (proto == "TCP6" && !v6)) {
    return fail("PROXY v1 address family mismatch");
  }
  h.has_source = true;
  return h;
}

uint16_t be16(const unsigned char* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

ProxyHeader parse_v2(std::string_view buf) {
  if (buf.size() < 16) return {};
  auto* p = reinterpret_cast<const unsigned char*>(buf.data());
  if ((p[12] >> 4) != 2) return fail("PROXY v2 version unsupported");
  int command = p[12] & 0x0f;
  if (command > 1) return fail("PROXY v2 command unsupported");
  size_t total = 16 + be16(p + 14);
  if (total > kProxyV2Max) return fail("PROXY v2 header too large");
  if (buf.size() < total) return {};
  ProxyHeader h;
  h.status = ProxyHeader::kComplete;
  h.consumed = total;
  if (command == 0) return h;  // LOCAL: the proxy's own connection (health checks)
  int family = p[13] >> 4;
  int transport = p[13] & 0x0f;
  const unsigned char* addr = p + 16;
  size_t len = total - 16;
  switch (family) {
    case 0:  // AF_UNSPEC
    case 3:  // AF_UNIX: not an IP address; keep the socket's
      return h;
    case 1:  // AF_INET: src(4) dst(4) sport(2) dport(2), then TLVs (skipped)
      if (transport != 1) return fail("PROXY v2 transport unsupported");
      if (len < 12) return fail("PROXY v2 address block truncated");
      std::memcpy(h.source.data(), "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
      std::memcpy(h.source.data() + 12, addr, 4);
      h.source_port = be16(addr + 8);
      break;
    case 2:  // AF_INET6: src(16) dst(16) sport(2) dport(2), then TLVs
      if (transport != 1) return fail("PROXY v2 transport unsupported");
      if (len < 36) return fail("PROXY v2 address block truncated");
      std::memcpy(h.source.data(), addr, 16);
      h.source_port = be16(addr + 32);
      break;
    default:
      return fail("PROXY v2 address family unsupported");
  }
  h.has_source = true;
  return h;
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view buf) {
  // Which signature can this still be? Compare only the bytes we have.
  size_t n1 = std::min(buf.size(), kV1PrefixLen);
  size_t n2 = std::min(buf.size(), kV2SigLen);
  bool v1 = buf.compare(0, n1, std::string_view(kV1Prefix, n1)) == 0;
  bool v2 = buf.compare(0, n2, std::string_view(kV2Sig, n2)) == 0;
  if (!v1 && !v2) return fail("no PROXY protocol header");
  if (v1 && buf.size() >= kV1PrefixLen) return parse_v1(buf);
  if (v2 && buf.size() >= kV2SigLen) return parse_v2(buf);
  return {};
}

}  // namespace cppicorn::net
