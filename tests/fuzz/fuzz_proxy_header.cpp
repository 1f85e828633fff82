// libFuzzer target: net::parse_proxy_header, the PROXY protocol v1/v2 header a load balancer
// sends before the request (or before the TLS ClientHello: the TLS glue reads exactly the
// header's bytes, then hands the socket to OpenSSL).
//
// The parser is stateless and called again as bytes trickle in, so beyond crash-freedom:
// every proper prefix of a complete header must be incomplete (a parser that decides early on
// a prefix would refuse or mis-frame a header split across segments); what follows a header
// never changes its verdict, length or source; lengths stay within the version's bound.
#include <cstring>

#include "fuzz_harness.h"
#include "net/proxy_protocol.h"

namespace cppicorn::fuzz {
namespace {

bool same(const net::ProxyHeader& a, const net::ProxyHeader& b) {
  return a.status == b.status && a.consumed == b.consumed && a.has_source == b.has_source &&
         a.source == b.source && a.source_port == b.source_port;
}

}  // namespace
}  // namespace cppicorn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using cppicorn::fuzz::check;
  using cppicorn::net::ProxyHeader;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const ProxyHeader whole = cppicorn::net::parse_proxy_header(in);
  if (whole.status == ProxyHeader::kError) {
    check(!whole.error.empty(), "an error says why");
    return 0;
  }
  if (whole.status == ProxyHeader::kIncomplete) {
    check(size <= cppicorn::net::kProxyV2Max, "an incomplete header within the largest bound");
    return 0;
  }
  check(whole.consumed > 0 && whole.consumed <= size, "a complete header within the input");
  const bool v1 = in[0] == 'P';
  check(whole.consumed <= (v1 ? cppicorn::net::kProxyV1Max : cppicorn::net::kProxyV2Max),
        "a complete header within its version's bound");
  const std::string_view header = in.substr(0, whole.consumed);
  for (size_t n = 0; n < header.size(); ++n) {
    const ProxyHeader part = cppicorn::net::parse_proxy_header(header.substr(0, n));
    check(part.status != ProxyHeader::kComplete, "a proper prefix is not a complete header");
    check(part.status == ProxyHeader::kIncomplete, "a proper prefix of a header is no error");
  }
  check(cppicorn::fuzz::same(cppicorn::net::parse_proxy_header(header), whole),
        "the header alone parses as it did with what followed");
  std::string more(header);
  more.append("GET / HTTP/1.1\r\n\r\n\r\n\x16\x03\x01");
  check(cppicorn::fuzz::same(cppicorn::net::parse_proxy_header(more), whole),
        "what follows a header does not change it");
  return 0;
}
