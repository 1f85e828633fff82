// Unit tests of ChunkedDecoder: in-place decoding, streaming across calls, strict framing,
// extensions, trailers and the body limit.
#include <gtest/gtest.h>

#include <string>

#include "http/parser.h"

namespace cppicorn::http {
namespace {

using R = ChunkedDecoder::Result;

struct Decoded {
  R result;
  std::string body;
};

// Decodes `in` in one call.
Decoded decode(std::string in, uint64_t max_body = 0, const Limits& limits = Limits{}) {
  ChunkedDecoder d(max_body, limits);
  Decoded out;
  out.result = d.decode(in.data(), in.size());
  out.body = in.substr(0, out.result.produced);
  return out;
}

int status_of(const std::string& in, uint64_t max_body = 0, const Limits& limits = Limits{}) {
  R r = decode(in, max_body, limits).result;
  return r.status == R::kError ? r.http_status : r.status == R::kDone ? 200 : 0;
}

TEST(ChunkedDecoder, DecodesInPlace) {
  std::string in = "5\r\nhello\r\n6;ext=\"q\"\r\n world\r\n0\r\n\r\nNEXT";
  ChunkedDecoder d;
  R r = d.decode(in.data(), in.size());
  ASSERT_EQ(r.status, R::kDone);
  EXPECT_EQ(in.substr(0, r.produced), "hello world");
  EXPECT_EQ(in.substr(r.consumed), "NEXT");  // the next pipelined request is left alone
  EXPECT_EQ(d.total(), 11u);
}

TEST(ChunkedDecoder, StreamsAcrossCalls) {
  const std::string in = "a\r\n0123456789\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n";
  for (size_t step = 1; step <= in.size(); ++step) {
    ChunkedDecoder d;
    std::string pending, body;
    R r;
    for (size_t fed = 0; fed < in.size() && r.status == R::kNeedMore; fed += step) {
      pending += in.substr(fed, step);
      r = d.decode(pending.data(), pending.size());
      body.append(pending, 0, r.produced);
      pending.erase(0, r.consumed);
    }
    EXPECT_EQ(r.status, R::kDone) << step;
    EXPECT_EQ(body, "0123456789abc") << step;
    EXPECT_TRUE(pending.empty()) << step;
  }
}

TEST(ChunkedDecoder, IncompleteLinesAreNotConsumed) {
  std::string in = "3\r\nabc\r\n1";
  ChunkedDecoder d;
  R r = d.decode(in.data(), in.size());
  EXPECT_EQ(r.status, R::kNeedMore);
  EXPECT_EQ(r.produced, 3u);
  EXPECT_EQ(r.consumed, in.size() - 1);
}

TEST(ChunkedDecoder, ChunkSize) {
  EXPECT_EQ(status_of("0000000000000003\r\nabc\r\n0\r\n\r\n"), 200);
  EXPECT_EQ(status_of("00000000000000003\r\nabc\r\n0\r\n\r\n"), 400);  // 17 digits
  EXPECT_EQ(status_of("000000000000000003"), 400);  // refused before its line ends
  for (const char* bad : {"+3", "-3", " 3", "3 ", "0x3", "", "g"}) {
    EXPECT_EQ(status_of(std::string(bad) + "\r\nabc\r\n0\r\n\r\n"), 400) << bad;
  }
  EXPECT_EQ(status_of("3\nabc\r\n0\r\n\r\n"), 400);
}

TEST(ChunkedDecoder, Extensions) {
  for (const char* ok : {";a", ";a=b", " ; a = b ;c", ";a=\"x y\\\" z\"", ";a=\"\""}) {
    EXPECT_EQ(status_of(std::string("3") + ok + "\r\nabc\r\n0\r\n\r\n"), 200) << ok;
  }
  for (const char* bad : {";", ";=b", ";a=", ";a=\"x", ";a b", ";a=b ", ";a=\"x\"y"}) {
    EXPECT_EQ(status_of(std::string("3") + bad + "\r\nabc\r\n0\r\n\r\n"), 400) << bad;
  }
  std::string long_ext = "3;a=" + std::string(ChunkedDecoder::kMaxSizeLine, 'x');
  EXPECT_EQ(status_of(long_ext + "\r\nabc\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(status_of(long_ext), 400);  // also without its LF
}

TEST(ChunkedDecoder, CrlfAfterData) {
  EXPECT_EQ(status_of("3\r\nabcX\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(status_of("3\r\nabc\n0\r\n\r\n"), 400);
  EXPECT_EQ(status_of("3\r\nabc\r0\r\n\r\n"), 400);
}

TEST(ChunkedDecoder, Trailers) {
  EXPECT_EQ(status_of("0\r\nX-Sum: 1\r\n\r\n"), 200);
  for (const char* f : {"Content-Length", "transfer-encoding", "HOST", "Trailer", "Connection",
                        "TE", "Expect", "Authorization", "Content-Type"}) {
    EXPECT_EQ(status_of(std::string("0\r\n") + f + ": x\r\n\r\n"), 400) << f;
  }
  EXPECT_EQ(status_of("0\r\nX: a\r\n b\r\n\r\n"), 400);
  EXPECT_EQ(status_of("0\r\nX : a\r\n\r\n"), 400);
  EXPECT_EQ(status_of("0\r\nX: a\n\r\n"), 400);
  EXPECT_EQ(status_of("0\r\nA: 1\r\nB: 2\r\n\r\n", 0, Limits{.fields = 1}), 431);
  EXPECT_EQ(status_of("0\r\nA: 12345\r\n\r\n", 0, Limits{.field_size = 6}), 431);
  EXPECT_EQ(status_of("0\r\nA: 1\r\nB: 2\r\n\r\n", 0, Limits{.head_size = 10}), 431);
}

TEST(ChunkedDecoder, BodyLimit) {
  EXPECT_EQ(status_of("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 5), 200);
  EXPECT_EQ(status_of("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 5), 413);
  EXPECT_EQ(status_of("ffffffffffffffff\r\n", 5), 413);  // refused at the size line
}

TEST(ChunkedDecoder, FramingOverheadIsBounded) {
  std::string tiny;  // one-byte chunks: 5 bytes of framing each, within the allowance
  for (int i = 0; i < 20000; ++i) tiny += "1\r\nx\r\n";
  EXPECT_EQ(status_of(tiny + "0\r\n\r\n"), 200);
  std::string ext;  // long extensions on one-byte chunks: mostly framing
  for (int i = 0; i < 10; ++i) ext += "1;e=" + std::string(4000, 'v') + "\r\nx\r\n";
  Decoded d = decode(ext + "0\r\n\r\n");
  EXPECT_EQ(d.result.http_status, 400);
  EXPECT_EQ(d.result.reason, "chunk framing overhead too large");
  std::string big;  // the same extensions on large chunks are paid for by the data
  for (int i = 0; i < 10; ++i) {
    big += "1000;e=" + std::string(4000, 'v') + "\r\n" + std::string(4096, 'x') + "\r\n";
  }
  EXPECT_EQ(status_of(big + "0\r\n\r\n"), 200);
}

TEST(ChunkedDecoder, ErrorsAndDoneAreSticky) {
  ChunkedDecoder d;
  std::string bad = "x\r\n";
  EXPECT_EQ(d.decode(bad.data(), bad.size()).status, R::kError);
  std::string good = "0\r\n\r\n";
  R again = d.decode(good.data(), good.size());
  EXPECT_EQ(again.status, R::kError);
  EXPECT_EQ(again.http_status, 400);
  d.reset(0);
  EXPECT_EQ(d.decode(good.data(), good.size()).status, R::kDone);
  R after = d.decode(good.data(), good.size());
  EXPECT_EQ(after.status, R::kDone);
  EXPECT_EQ(after.consumed, 0u);
}

TEST(ChunkedDecoder, ResetClearsTotalAndSetsLimit) {
  ChunkedDecoder d;
  std::string in = "3\r\nabc\r\n0\r\n\r\n";
  ASSERT_EQ(d.decode(in.data(), in.size()).status, R::kDone);
  EXPECT_EQ(d.total(), 3u);
  d.reset(2);
  EXPECT_EQ(d.total(), 0u);
  in = "3\r\nabc\r\n0\r\n\r\n";
  EXPECT_EQ(d.decode(in.data(), in.size()).http_status, 413);
}

}  // namespace
}  // namespace cppicorn::http
