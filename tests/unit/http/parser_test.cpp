// Unit tests of RequestParser: one or more tests per rule, plus the API contract (zero-copy,
// incremental feeding, reuse). The exhaustive byte-level matrix is in tests/conformance/.
#include "http/parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace cppicorn::http {
namespace {

// Keeps its own copy of the input alive (on the heap, so moves keep the views valid).
struct Parsed {
  std::shared_ptr<const std::string> in;
  ParseResult result;
  Request req;
};

Parsed parse(const std::string& in, const Limits& limits = Limits{}) {
  RequestParser p(limits);
  Parsed out;
  out.in = std::make_shared<const std::string>(in);
  out.result = p.parse(*out.in, out.req);
  return out;
}

int status_of(const std::string& in, const Limits& limits = Limits{}) {
  Parsed p = parse(in, limits);
  return p.result.status == ParseResult::kError      ? p.result.http_status
         : p.result.status == ParseResult::kComplete ? 200
                                                     : 0;
}

std::string get(const std::string& extra, const std::string& version = "HTTP/1.1") {
  return "GET / " + version + "\r\nHost: h\r\n" + extra + "\r\n";
}

bool inside(std::string_view v, const std::string& buf) {
  return v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size();
}

TEST(RequestParser, ParsesSimpleRequest) {
  const std::string in = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Y: z\r\n\r\n";
  RequestParser p(Limits{});
  Request r;
  ParseResult res = p.parse(in, r);
  ASSERT_EQ(res.status, ParseResult::kComplete);
  EXPECT_EQ(res.consumed, in.size());
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/a/b?c=d");
  EXPECT_EQ(r.path, "/a/b");
  EXPECT_EQ(r.query, "c=d");
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_EQ(r.host, "example.com");
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[1].name, "X-Y");
  EXPECT_EQ(r.headers[1].value, "z");
  EXPECT_EQ(r.body, BodyKind::kNone);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.expect_continue);
}

TEST(RequestParser, ViewsPointIntoTheBuffer) {
  Parsed p = parse("POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  const std::string& in = *p.in;
  ASSERT_EQ(p.result.status, ParseResult::kComplete);
  for (std::string_view v : {p.req.method, p.req.target, p.req.path, p.req.query, p.req.host}) {
    EXPECT_TRUE(inside(v, in)) << v;
  }
  for (const Header& h : p.req.headers) {
    EXPECT_TRUE(inside(h.name, in));
    EXPECT_TRUE(inside(h.value, in));
  }
}

TEST(RequestParser, HeadersVectorIsReusedWithoutShrinking) {
  RequestParser p(Limits{});
  Request r;
  const std::string big = get("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n");
  ASSERT_EQ(p.parse(big, r).status, ParseResult::kComplete);
  const size_t capacity = r.headers.capacity();
  const Header* storage = r.headers.data();
  const std::string small = get("");
  ASSERT_EQ(p.parse(small, r).status, ParseResult::kComplete);
  EXPECT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers.capacity(), capacity);
  EXPECT_EQ(r.headers.data(), storage);  // no reallocation once warmed
}

TEST(RequestParser, IncrementalFeedAcrossMovingBuffers) {
  const std::string in =
      "GET /x HTTP/1.1\r\nHost: h\r\nLong: " + std::string(300, 'v') + "\r\n\r\n";
  RequestParser p(Limits{});
  Request r;
  ParseResult res;
  size_t n = 0;
  std::string buf;
  for (size_t step : {3, 9, 1, 40, 200, 1000}) {
    n = std::min(in.size(), n + step);
    buf = in.substr(0, n);
    buf.shrink_to_fit();  // a fresh allocation: earlier views would dangle
    res = p.parse(buf, r);
    if (res.status != ParseResult::kIncomplete) break;
  }
  ASSERT_EQ(res.status, ParseResult::kComplete);
  EXPECT_EQ(r.path, "/x");
  EXPECT_TRUE(inside(r.method, buf));
  EXPECT_EQ(r.find("long")->value.size(), 300u);
}

TEST(RequestParser, ResetAbandonsAPartialHead) {
  RequestParser p(Limits{});
  Request r;
  EXPECT_EQ(p.parse("GET /old HTTP/1.1\r\nHo", r).status, ParseResult::kIncomplete);
  p.reset();
  const std::string in = get("");
  ASSERT_EQ(p.parse(in, r).status, ParseResult::kComplete);
  EXPECT_EQ(r.path, "/");
}

TEST(RequestParser, ReadyForNextRequestAfterCompleteOrError) {
  RequestParser p(Limits{});
  Request r;
  EXPECT_EQ(p.parse("BAD( / HTTP/1.1\r\n\r\n", r).status, ParseResult::kError);
  const std::string in = get("Expect: 100-continue\r\n");
  ASSERT_EQ(p.parse(in, r).status, ParseResult::kComplete);
  EXPECT_TRUE(r.expect_continue);
  const std::string next = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(p.parse(next, r).status, ParseResult::kComplete);
  EXPECT_FALSE(r.expect_continue);  // per-request fields are reset
  EXPECT_EQ(r.host, "");
  EXPECT_TRUE(r.headers.empty());
}

TEST(RequestParser, LimitsAreCopied) {
  RequestParser p(Limits{.request_line = 8});  // a temporary must not dangle
  Request r;
  EXPECT_EQ(p.parse("GET /0123456789 HTTP/1.1\r\n", r).http_status, 414);
}

TEST(RequestParser, Method) {
  EXPECT_EQ(status_of("G@T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("PATCH / HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
}

TEST(RequestParser, TargetForms) {
  EXPECT_EQ(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), 200);
  EXPECT_EQ(status_of("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), 200);
  EXPECT_EQ(status_of("GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  Parsed abs = parse("GET http://ex.com:81/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_EQ(abs.result.status, ParseResult::kComplete);
  EXPECT_EQ(abs.req.path, "/p/q");
  EXPECT_EQ(abs.req.query, "x=1");
  EXPECT_EQ(abs.req.host, "ex.com:81");
  Parsed root = parse("GET http://ex.com HTTP/1.1\r\nHost: ex.com\r\n\r\n");
  EXPECT_EQ(root.req.path, "/");
}

TEST(RequestParser, Version) {
  EXPECT_EQ(status_of(get("", "HTTP/1.0")), 200);
  EXPECT_EQ(status_of(get("", "HTTP/2.0")), 505);
  EXPECT_EQ(status_of(get("", "HTTP/3.1")), 505);
  EXPECT_EQ(status_of(get("", "HTTP/1.1 ")), 400);
  EXPECT_EQ(status_of(get("", "HTTP/1")), 400);
  EXPECT_EQ(status_of("GET /\r\n"), 400);  // HTTP/0.9, answered without a blank line
}

TEST(RequestParser, LineEndings) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\nHost: h\n\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\nHost: h\n\n", Limits{.permit_bare_lf = true}), 200);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), 400);
  Parsed lead = parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(lead.result.status, ParseResult::kComplete);
  EXPECT_EQ(lead.result.consumed, 31u);
}

TEST(RequestParser, FieldSyntax) {
  EXPECT_EQ(status_of(get("Bad Name: v\r\n")), 400);
  EXPECT_EQ(status_of(get("X : v\r\n")), 400);
  EXPECT_EQ(status_of(get("X: a\r\n folded\r\n")), 400);
  EXPECT_EQ(status_of(get(std::string("X: a\0b\r\n", 8))), 400);
  EXPECT_EQ(status_of(get("X: a\tb\r\n")), 200);  // HT is allowed inside values
  Parsed p = parse(get("X:  \t padded \t \r\n"));
  ASSERT_NE(p.req.find("x"), nullptr);
  EXPECT_EQ(p.req.find("x")->value, "padded");
  EXPECT_EQ(p.req.find("missing"), nullptr);
}

TEST(RequestParser, Underscores) {
  const std::string in = get("X_Y: 1\r\n");
  EXPECT_EQ(parse(in).req.find("x_y"), nullptr);  // kDrop is the default
  EXPECT_EQ(status_of(in, Limits{.underscores = Underscores::kRefuse}), 400);
  EXPECT_NE(parse(in, Limits{.underscores = Underscores::kAllow}).req.find("x_y"), nullptr);
}

TEST(RequestParser, ForwarderHeadersPassOnlyFromATrustedPeer) {
  const std::string in = get("SCRIPT_NAME: /app\r\nX_Y: 1\r\n");
  const std::vector<std::string> names{"SCRIPT_NAME"};
  Limits limits{.underscores = Underscores::kRefuse, .forwarder_headers = names};
  RequestParser p(limits);
  Request req;
  EXPECT_EQ(p.parse(in, req).http_status, 400);  // untrusted: SCRIPT_NAME is refused too
  p.trust_forwarder(true);
  EXPECT_EQ(p.parse(in, req).http_status, 400);  // X_Y is not listed
  const std::string listed = get("script_name: /app\r\n");
  ASSERT_EQ(p.parse(listed, req).status, ParseResult::kComplete);
  ASSERT_NE(req.find("SCRIPT_NAME"), nullptr);
  EXPECT_EQ(req.find("SCRIPT_NAME")->value, "/app");
  const std::vector<std::string> any{"*"};
  RequestParser star(Limits{.forwarder_headers = any});
  star.trust_forwarder(true);
  ASSERT_EQ(star.parse(in, req).status, ParseResult::kComplete);
  EXPECT_NE(req.find("x_y"), nullptr);
}

TEST(RequestParser, SizeLimits) {
  EXPECT_EQ(status_of(get("A: 1\r\nB: 2\r\n"), Limits{.fields = 2}), 431);
  EXPECT_EQ(status_of(get("A: 1\r\n"), Limits{.fields = 2}), 200);
  // The limit counts the CRLF, as gunicorn's: "Host: h" and "A: 1234" are 9 bytes each.
  EXPECT_EQ(status_of(get("A: 12345\r\n"), Limits{.field_size = 9}), 431);
  EXPECT_EQ(status_of(get("A: 1234\r\n"), Limits{.field_size = 9}), 200);
  EXPECT_EQ(status_of(get(""), Limits{.head_size = 10}), 431);
}

TEST(RequestParser, LimitsApplyToPartialInput) {
  RequestParser p(Limits{.request_line = 16, .head_size = 64});
  Request r;
  EXPECT_EQ(p.parse("GET /0123456789a", r).status, ParseResult::kIncomplete);
  EXPECT_EQ(p.parse("GET /0123456789ab", r).http_status, 414);  // no LF yet
  std::string head = "GET / HTTP/1.1\r\n";
  while (head.size() <= 64) head += "A: 1\r\n";
  EXPECT_EQ(p.parse(head, r).http_status, 431);  // never terminated
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: " + std::string(100, 'x'), Limits{.field_size = 50}),
            431);
}

TEST(RequestParser, Host) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status_of(get("Host: h\r\n")), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.0\r\n\r\n"), 200);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
}

TEST(RequestParser, ContentLength) {
  Parsed p = parse(get("Content-Length: 0042\r\n"));
  EXPECT_EQ(p.req.body, BodyKind::kLength);
  EXPECT_EQ(p.req.content_length, 42u);
  for (const char* bad : {"+5", "-1", "5, 5", "5,6", "5 5", "0x5", "", "99999999999999999999"}) {
    EXPECT_EQ(status_of(get(std::string("Content-Length: ") + bad + "\r\n")), 400) << bad;
  }
  EXPECT_EQ(status_of(get("Content-Length: 5\r\nContent-Length: 5\r\n")), 400);
  EXPECT_EQ(status_of(get("Content-Length: 11\r\n"), Limits{.body = 10}), 413);
  EXPECT_EQ(status_of(get("Content-Length: 10\r\n"), Limits{.body = 10}), 200);
}

TEST(RequestParser, TransferEncoding) {
  EXPECT_EQ(parse(get("Transfer-Encoding: Chunked\r\n")).req.body, BodyKind::kChunked);
  EXPECT_EQ(status_of(get("Transfer-Encoding: chunked\r\nContent-Length: 1\r\n")), 400);
  EXPECT_EQ(status_of(get("Transfer-Encoding: chunked\r\n", "HTTP/1.0")), 400);
  EXPECT_EQ(status_of(get("Transfer-Encoding: gzip, chunked\r\n")), 501);
  EXPECT_EQ(status_of(get("Transfer-Encoding: xchunked\r\n")), 501);
  EXPECT_EQ(status_of(get("Transfer-Encoding: chunked, chunked\r\n")), 400);
  EXPECT_EQ(status_of(get("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")), 400);
  EXPECT_EQ(status_of(get("Transfer-Encoding: chunked;x=1\r\n")), 400);
}

TEST(RequestParser, Connection) {
  EXPECT_TRUE(parse(get("")).req.keep_alive);
  EXPECT_FALSE(parse(get("Connection: Upgrade, CLOSE\r\n")).req.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").req.keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").req.keep_alive);
}

TEST(RequestParser, Expect) {
  EXPECT_TRUE(parse(get("Expect: 100-CONTINUE\r\n")).req.expect_continue);
  EXPECT_FALSE(parse(get("Expect: 100-continue\r\n", "HTTP/1.0")).req.expect_continue);
  EXPECT_EQ(status_of(get("Expect: 101-switch\r\n")), 417);
}

TEST(RequestParser, ErrorsCarryStaticReasons) {
  Parsed p = parse(get("X : y\r\n"));
  EXPECT_EQ(p.result.status, ParseResult::kError);
  EXPECT_EQ(p.result.reason, "whitespace before colon");
  EXPECT_EQ(p.result.consumed, 0u);
}

}  // namespace
}  // namespace cppicorn::http
