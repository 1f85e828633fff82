// HTTP/1.1 request head parser and chunked body decoder (RFC 9112), strict by design.
//
// Zero-copy: a parsed Request holds string_views into the caller's buffer, so the buffer must
// outlive it and must not move. The parser is fed the bytes received so far and either asks for
// more, returns a complete head, or rejects the request with the status to answer and a reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace cppicorn::http {

struct Header {
  std::string_view name;
  std::string_view value;  // without leading/trailing whitespace
};

enum class BodyKind { kNone, kLength, kChunked };
enum class Underscores { kDrop, kRefuse, kAllow };

struct Limits {
  size_t request_line = 4094;  // bytes in the request line, without CRLF (414 beyond)
  size_t fields = 100;         // header fields (431 beyond)
  size_t field_size = 8190;    // bytes in one field line (431 beyond)
  size_t head_size = 65536;    // bytes in the whole head (431 beyond)
  uint64_t body = 0;           // bytes in the body, 0 = unlimited (413 beyond)
  bool permit_bare_lf = false;  // accept LF without CR as line end in the head
  Underscores underscores = Underscores::kDrop;
};

struct Request {
  std::string_view method;
  std::string_view target;  // raw request-target as received
  std::string_view path;    // target up to '?' (for absolute-form: the path part)
  std::string_view query;   // after '?', empty if none
  int version_minor = 1;    // HTTP/1.<minor>
  std::vector<Header> headers;  // reused across requests: clear(), never shrink
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;  // when body == kLength
  bool keep_alive = true;       // by version and Connection
  bool expect_continue = false;
  std::string_view host;

  // The first header with this name (case-insensitive), or nullptr.
  const Header* find(std::string_view name) const;
};

struct ParseResult {
  enum Status { kIncomplete, kComplete, kError } status = kIncomplete;
  size_t consumed = 0;   // bytes of the head, including the blank line (when kComplete)
  int http_status = 0;   // 400, 413, 414, 417, 431, 501, 505 (when kError)
  std::string_view reason;  // short text for the error body / log (static storage)
};

class RequestParser {
 public:
  explicit RequestParser(const Limits& limits) : limits_(limits) {}

  // Parses the head at the start of `buf` (all bytes received so far for this request) into
  // `out`. Call again with the grown buffer after kIncomplete; scanning resumes where it left.
  ParseResult parse(std::string_view buf, Request& out);
  // Forget progress, for the next request on the connection.
  void reset() { scanned_ = 0; }

 private:
  const Limits& limits_;
  size_t scanned_ = 0;  // bytes already searched for the end of the head
};

// Decodes a chunked body in place: data is moved down over chunk framing.
class ChunkedDecoder {
 public:
  struct Result {
    enum Status { kNeedMore, kDone, kError } status = kNeedMore;
    size_t consumed = 0;  // input bytes used (framing included)
    size_t produced = 0;  // body bytes now at the start of the buffer
    int http_status = 0;
    std::string_view reason;
  };
  explicit ChunkedDecoder(uint64_t max_body = 0) : max_body_(max_body) {}

  // Decodes from buf[0..len) and moves body bytes to buf[0..produced). Bytes after `consumed`
  // are left for the next call (they may be the next pipelined request once kDone).
  Result decode(char* buf, size_t len);
  void reset(uint64_t max_body);
  uint64_t total() const { return total_; }

 private:
  enum class State { kSize, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kDone };
  State state_ = State::kSize;
  uint64_t max_body_ = 0;
  uint64_t remaining_ = 0;  // bytes left in the current chunk
  uint64_t total_ = 0;
  size_t size_digits_ = 0;
  size_t trailer_bytes_ = 0;
  // (implementation may add more state)
};

}  // namespace cppicorn::http
