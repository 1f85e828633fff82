// IpAllowList: the addresses and CIDR networks of a trust setting (forwarded_allow_ips,
// proxy_allow_ips), parsed once per worker so each check is a few integer compares.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cppicorn::net {

// An IPv4 or IPv6 address as 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so one
// comparison covers both families and a v4 client on a dual-stack socket matches v4 entries.
using Ip16 = std::array<uint8_t, 16>;

// Parses a textual IPv4 or IPv6 address (no brackets, no port); false when it is not one.
bool parse_ip(std::string_view text, Ip16* out);
// Renders an address for apps and logs: dotted quad for IPv4-mapped ones, RFC 5952 otherwise.
// buf needs 46 bytes; returns the length written.
size_t format_ip(const Ip16& ip, char* buf);

class IpAllowList {
 public:
  IpAllowList() = default;
  // Entries are IPs, CIDR networks or "*" (already validated by the settings loader; an
  // entry that does not parse is skipped, so it never widens the list).
  explicit IpAllowList(const std::vector<std::string>& entries);

  bool allows(const Ip16& ip) const;
  // Unix-socket peers (AF_UNIX) are allowed, as in gunicorn: only local processes with
  // filesystem access can connect. Other families than INET/INET6/UNIX are not.
  bool allows(const sockaddr_storage& peer) const;
  bool allows_all() const { return all_; }

 private:
  struct Network {
    Ip16 addr;
    int prefix;  // bits, 0..128 in the 16-byte form
  };
  bool all_ = false;
  std::vector<Network> networks_;
};

}  // namespace cppicorn::net
