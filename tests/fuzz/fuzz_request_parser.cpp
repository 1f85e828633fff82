// libFuzzer target: RequestParser (and the chunked bodies and pipelined requests after it).
//
// Input: one byte selecting limits (fuzz_harness.h), then the byte stream of a connection.
// Checks memory safety (ASan/UBSan), invariants of every result, and split equivalence.
#include <cstring>

#include "fuzz_harness.h"

namespace cppicorn::fuzz {
namespace {

// Runs up to four pipelined messages, each phase fed per `mode`; returns a transcript.
std::string run(std::string_view in, const http::Limits& limits, uint32_t mode) {
  std::string log;
  http::RequestParser parser(limits);
  http::Request req;
  size_t o = 0;
  for (int msg = 0; msg < 4 && (msg == 0 || o < in.size()); ++msg) {
    std::string acc;  // grows and moves, as a connection buffer may between calls
    http::ParseResult r;
    for (size_t n : pieces(in.size() - o, mode, static_cast<uint32_t>(o))) {
      acc.append(in.substr(o + acc.size(), n));
      r = parser.parse(acc, req);
      check(r.consumed <= acc.size(), "consumed beyond the buffer");
      if (r.status != http::ParseResult::kIncomplete) break;
    }
    if (r.status == http::ParseResult::kIncomplete) return log + "incomplete";
    if (r.status == http::ParseResult::kError) {
      check(valid_status(r.http_status) && !r.reason.empty(), "error without status/reason");
      return log + "error " + std::to_string(r.http_status) + " " + std::string(r.reason);
    }
    check(r.consumed > 0 && r.consumed <= limits.head_size, "head size");
    check(!req.method.empty() && !req.target.empty(), "empty method/target");
    check(inside(req.method, acc) && inside(req.target, acc) && inside(req.query, acc) &&
              inside(req.host, acc),
          "view outside the buffer");
    check(inside(req.path, acc) || (req.path == "/" && req.target[0] != '/'),
          "path outside the buffer");
    check(req.version_minor == 0 || req.version_minor == 1, "version");
    check(req.headers.size() <= limits.fields, "field count");
    log += std::string(req.method) + " " + std::string(req.target) + " " + std::string(req.path) +
           "?" + std::string(req.query) + " " + std::to_string(req.version_minor) +
           " host=" + std::string(req.host) + " ka=" + std::to_string(req.keep_alive) +
           " ex=" + std::to_string(req.expect_continue) +
           " body=" + std::to_string(static_cast<int>(req.body)) +
           " cl=" + std::to_string(req.content_length) + " n=" + std::to_string(r.consumed);
    for (const http::Header& h : req.headers) {
      check(inside(h.name, acc) && inside(h.value, acc), "header view outside the buffer");
      check(!h.name.empty(), "empty header name");
      check(req.find(h.name) != nullptr, "find misses a header");
      log += "|" + std::string(h.name) + ":" + std::string(h.value);
    }
    log += "\n";
    o += r.consumed;
    if (req.body == http::BodyKind::kLength) {
      if (req.content_length > in.size() - o) return log + "short body";
      o += req.content_length;
    } else if (req.body == http::BodyKind::kChunked) {
      http::ChunkedDecoder dec(limits.body, limits);
      std::string pending, body;
      size_t fed = 0;
      http::ChunkedDecoder::Result d;
      for (size_t n : pieces(in.size() - o, mode, static_cast<uint32_t>(o) + 7)) {
        pending.append(in.substr(o + fed, n));
        fed += n;
        d = dec.decode(pending.data(), pending.size());
        check(d.produced <= d.consumed && d.consumed <= pending.size(), "decoder counts");
        body.append(pending, 0, d.produced);
        pending.erase(0, d.consumed);
        if (d.status != http::ChunkedDecoder::Result::kNeedMore) break;
      }
      check(dec.total() == body.size(), "decoder total");
      log += "body=" + body + "\n";
      if (d.status == http::ChunkedDecoder::Result::kError) {
        return log + "body error " + std::to_string(d.http_status);
      }
      if (d.status != http::ChunkedDecoder::Result::kDone) return log + "body incomplete";
      o += fed - pending.size();
    }
  }
  return log;
}

}  // namespace
}  // namespace cppicorn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cppicorn::fuzz::check_splits_agree(data, size, cppicorn::fuzz::run);
}
