// Who the client is, for Connection: the socket peer, the source a PROXY protocol header
// carries, and what a trusted proxy reports in X-Forwarded-For / -Port and the
// secure_scheme_headers (X-Forwarded-Proto and the like).
//
// X-Forwarded-For rule: each proxy appends the address it received the request from, so
// only the right-most entries were written by machines we trust; everything to the left of
// the first untrusted hop could have been typed by the client. We walk the list from the
// right, starting at the socket peer (which must itself be in forwarded_allow_ips), and stop
// at the first hop that is not a trusted proxy: that is the client. A hop that is not an IP
// address ("unknown", an obfuscated RFC 7239 name, garbage) also stops the walk, and the last
// good hop stands. With '*' every hop is trusted and the left-most address wins. gunicorn
// itself leaves REMOTE_ADDR alone and trusts these peers only for the scheme; the left-most
// rule ("first address") that some servers use lets any client spoof its address.
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/un.h>

#include <cstring>

#include "net/proxy_protocol.h"
#include "worker/connection.h"
#include "worker/worker.h"

namespace cppicorn::worker {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One X-Forwarded-For element as an address: "1.2.3.4", "::1", and the port-carrying forms
// some proxies write, "1.2.3.4:5678" and "[::1]:5678".
bool forwarded_ip(std::string_view e, net::Ip16* ip) {
  if (!e.empty() && e.front() == '[') {
    size_t close = e.find(']');
    if (close == std::string_view::npos) return false;
    return net::parse_ip(e.substr(1, close - 1), ip);
  }
  size_t colon = e.find(':');
  if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos) {
    e = e.substr(0, colon);  // IPv4 with a port
  }
  return net::parse_ip(e, ip);
}

}  // namespace

PeerTrust peer_trust_from(const config::Settings& s) {
  PeerTrust t{net::IpAllowList(s.forwarded_allow_ips), net::IpAllowList(s.proxy_allow_ips), {}};
  for (const std::string& item : s.secure_scheme_headers) {  // NAME=VALUE, as checked
    std::string_view v = item;
    size_t eq = v.find('=');
    t.scheme_headers.push_back({v.substr(0, eq), v.substr(eq + 1)});
  }
  return t;
}

void Connection::set_peer(const sockaddr_storage& peer) {
  port_ = 0;
  addr_len_ = 0;
  net::Ip16 ip{};
  if (peer.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
    std::memcpy(ip.data(), "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
    std::memcpy(ip.data() + 12, &in->sin_addr, 4);
    set_peer(ip, ntohs(in->sin_port));
  } else if (peer.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    std::memcpy(ip.data(), &in6->sin6_addr, 16);
    set_peer(ip, ntohs(in6->sin6_port));
  }
  forwarded_trusted_ = trust_.forwarded.allows(peer);  // unix-socket peers are trusted
  parser_.trust_forwarder(forwarded_trusted_);
}

void Connection::set_peer(const net::Ip16& ip, int port) {
  addr_len_ = net::format_ip(ip, addr_);
  port_ = port;
  forwarded_trusted_ = trust_.forwarded.allows(ip);
  parser_.trust_forwarder(forwarded_trusted_);
}

bool Connection::read_proxy_header() {
  // v1 is text ("PROXY ..."), v2 starts with its binary signature ("\r\n\r\n\0..."): the
  // first byte tells them apart, so a version the setting excludes is refused at once.
  const std::string& mode = worker_.settings().proxy_protocol;
  if (in_len_ > 0 && ((mode == "v1" && in_[0] != 'P') || (mode == "v2" && in_[0] != '\r'))) {
    spdlog::debug("Closing connection from {}: not a PROXY {} header",
                  std::string_view(addr_, addr_len_), mode);
    close();
    return false;
  }
  net::ProxyHeader h = net::parse_proxy_header({in_.get(), in_len_});
  if (h.status == net::ProxyHeader::kIncomplete) {
    arm_head_timer();
    return false;
  }
  if (h.status == net::ProxyHeader::kError) {
    // No HTTP answer: the peer is a proxy that would relay it to a client as if from us.
    spdlog::debug("Closing connection from {}: {}", std::string_view(addr_, addr_len_), h.error);
    close();
    return false;
  }
  // Trust for X-Forwarded-* now follows the proxied client, not the proxy: a TCP-mode proxy
  // passes the client's own headers through untouched.
  if (h.has_source) set_peer(h.source, h.source_port);
  in_len_ -= h.consumed;
  if (in_len_ > 0) std::memmove(in_.get(), in_.get() + h.consumed, in_len_);
  enter(State::kReadingHead);
  return true;
}

std::string_view Connection::remote_addr() const {
  if (forwarded_trusted_) {
    resolve_forwarded();
    if (fwd_addr_len_ > 0) return {fwd_addr_, fwd_addr_len_};
  }
  return {addr_, addr_len_};
}

int Connection::remote_port() const {
  if (forwarded_trusted_) {
    resolve_forwarded();
    if (fwd_port_ >= 0) return fwd_port_;
  }
  return port_;
}

std::string_view Connection::url_scheme() const {
  if (forwarded_trusted_) {
    resolve_forwarded();
    if (!fwd_scheme_.empty()) return fwd_scheme_;
  }
  return ssl_ != nullptr ? "https" : "http";
}

bool Connection::resolve_scheme() {
  // gunicorn's rule: the first scheme header found decides; one that disagrees with it
  // (X-Forwarded-Proto: https with X-Forwarded-Ssl: off, or two different protos) makes
  // the request contradictory. Nothing found: the socket's own scheme.
  fwd_scheme_ = {};
  for (const http::Header& h : request_.headers) {
    for (const SchemeHeader& sh : trust_.scheme_headers) {
      if (!iequals(h.name, sh.name)) continue;
      std::string_view scheme = iequals(trim(h.value), sh.https_value) ? "https" : "http";
      if (fwd_scheme_.empty()) {
        fwd_scheme_ = scheme;
      } else if (fwd_scheme_ != scheme) {
        return false;
      }
    }
  }
  return true;
}

void Connection::resolve_forwarded() const {
  if (forwarded_done_) return;
  forwarded_done_ = true;
  fwd_addr_len_ = 0;
  fwd_port_ = -1;
  const auto& headers = request_.headers;
  // X-Forwarded-For: several field lines form one list in order, so walk lines from the last.
  bool stop = false;
  net::Ip16 client{};
  bool found = false;
  for (size_t i = headers.size(); i-- > 0 && !stop;) {
    if (!iequals(headers[i].name, "X-Forwarded-For")) continue;
    std::string_view list = headers[i].value;
    while (!stop) {
      size_t comma = list.rfind(',');
      std::string_view hop = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      net::Ip16 ip;
      if (!forwarded_ip(hop, &ip)) {
        stop = true;
        break;
      }
      client = ip;
      found = true;
      if (!trust_.forwarded.allows(ip)) {
        stop = true;
        break;
      }
      if (comma == std::string_view::npos) break;
      list = list.substr(0, comma);
    }
  }
  if (found) fwd_addr_len_ = net::format_ip(client, fwd_addr_);
  // X-Forwarded-Port: the last line counts (the nearest proxy's word).
  for (size_t i = headers.size(); i-- > 0;) {
    const http::Header& h = headers[i];
    std::string_view v = trim(h.value);
    if (iequals(h.name, "X-Forwarded-Port")) {
      if (v.empty() || v.size() > 5) break;
      int port = 0;
      bool ok = true;
      for (char c : v) {
        ok = ok && c >= '0' && c <= '9';
        port = port * 10 + (c - '0');
      }
      if (ok && port > 0 && port <= 65535) fwd_port_ = port;
      break;
    }
  }
}

}  // namespace cppicorn::worker
