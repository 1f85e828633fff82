#include "net/ip_allow.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace cppicorn::net {
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_mapped(const Ip16& ip) { return std::memcmp(ip.data(), kMappedPrefix, 12) == 0; }

bool match(const Ip16& a, const Ip16& net, int prefix) {
  int full = prefix / 8;
  if (std::memcmp(a.data(), net.data(), static_cast<size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[static_cast<size_t>(full)] & mask) == (net[static_cast<size_t>(full)] & mask);
}

}  // namespace

bool parse_ip(std::string_view text, Ip16* out) {
  char buf[INET6_ADDRSTRLEN];
  // (a NUL would end the text inet_pton sees: "10.0.0.1\0junk" is not an address)
  if (text.empty() || text.size() >= sizeof buf || text.find('\0') != std::string_view::npos) {
    return false;
  }
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    std::memcpy(out->data(), kMappedPrefix, 12);
    std::memcpy(out->data() + 12, &v4, 4);
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    std::memcpy(out->data(), &v6, 16);
    return true;
  }
  return false;
}

size_t format_ip(const Ip16& ip, char* buf) {
  if (is_mapped(ip)) {
    // Every connection's peer is formatted: glibc's inet_ntop goes through sprintf for
    // IPv4 (about 1 % of a worker's time with Connection: close), to_chars does not.
    char* p = buf;
    for (int i = 12; i < 16; ++i) {
      if (i > 12) *p++ = '.';
      p = std::to_chars(p, buf + INET_ADDRSTRLEN, ip[static_cast<size_t>(i)]).ptr;
    }
    *p = '\0';
    return static_cast<size_t>(p - buf);
  }
  inet_ntop(AF_INET6, ip.data(), buf, INET6_ADDRSTRLEN);
  return std::strlen(buf);
}

IpAllowList::IpAllowList(const std::vector<std::string>& entries) {
  for (const std::string& e : entries) {
    std::string_view sv = e;
    if (sv == "*") {
      all_ = true;
      continue;
    }
    size_t slash = sv.find('/');
    Network n{};
    if (!parse_ip(sv.substr(0, slash), &n.addr)) continue;
    bool v4 = is_mapped(n.addr) && sv.find(':') == std::string_view::npos;
    int max = v4 ? 32 : 128;
    int prefix = max;
    if (slash != std::string_view::npos) {
      std::string_view p = sv.substr(slash + 1);
      auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
      if (ec != std::errc() || end != p.data() + p.size() || prefix < 0 || prefix > max) continue;
    }
    n.prefix = v4 ? prefix + 96 : prefix;
    networks_.push_back(n);
  }
}

bool IpAllowList::allows(const Ip16& ip) const {
  if (all_) return true;
  for (const Network& n : networks_) {
    if (match(ip, n.addr, n.prefix)) return true;
  }
  return false;
}

bool IpAllowList::allows(const sockaddr_storage& peer) const {
  Ip16 ip{};
  switch (peer.ss_family) {
    case AF_UNIX:
      return true;
    case AF_INET: {
      auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
      std::memcpy(ip.data(), kMappedPrefix, 12);
      std::memcpy(ip.data() + 12, &in->sin_addr, 4);
      return allows(ip);
    }
    case AF_INET6: {
      auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
      std::memcpy(ip.data(), &in6->sin6_addr, 16);
      return allows(ip);
    }
    default:
      return false;
  }
}

}  // namespace cppicorn::net
