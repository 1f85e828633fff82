// HTTP/1.1 request head parser and chunked body decoder (RFC 9112), strict by design.
//
// Zero-copy: a parsed Request holds string_views into the caller's buffer, so the buffer must
// outlive it and must not move. The parser is fed the bytes received so far and either asks for
// more, returns a complete head, or rejects the request with the status to answer and a reason.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
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
  size_t request_line = 4094;   // bytes in the request line, without CRLF (414 beyond)
  size_t fields = 100;          // header fields (431 beyond)
  size_t field_size = 8190;     // bytes in one field line with its CRLF (431 beyond)
  size_t head_size = 65536;     // bytes in the whole head (431 beyond)
  uint64_t body = 0;            // bytes in the body, 0 = unlimited (413 beyond)
  bool permit_bare_lf = false;  // accept LF without CR as line end in the head
  Underscores underscores = Underscores::kDrop;
  // Names with '_' kept despite `underscores` when the peer is a trusted forwarder (see
  // RequestParser::trust_forwarder); "*" keeps every one. Must outlive the parser.
  std::span<const std::string> forwarder_headers = {};
  // gunicorn's leniencies, each off by default as in gunicorn. Those marked (rewrites)
  // change the head in place, so the buffer given to parse() must then be writable.
  bool strip_header_spaces = false;      // "Name : v" is "Name: v" instead of a 400
  bool permit_obsolete_folding = false;  // obs-fold joins the previous value (rewrites)
  // Methods outside gunicorn's convention (3 to 20 characters, no lower case, no '#') are a
  // 400 unless permitted; any token is then a method.
  bool permit_unconventional_method = false;
  bool permit_unconventional_version = false;  // HTTP/1.2 to 1.9 are read as 1.1, not 505
  bool casefold_method = false;                // "get" is GET (rewrites)
};

struct Request {
  std::string_view method;
  std::string_view target;          // raw request-target as received
  std::string_view path;            // target up to '?' (for absolute-form: the path part)
  std::string_view query;           // after '?', empty if none
  int version_minor = 1;            // HTTP/1.<minor>
  std::vector<Header> headers;      // reused across requests: clear(), never shrink
  BodyKind body = BodyKind::kNone;  // kLength whenever Content-Length is present, even 0
  uint64_t content_length = 0;      // when body == kLength
  bool keep_alive = true;           // by version and Connection
  bool expect_continue = false;
  std::string_view host;  // Host field, or the authority of an absolute-form target

  // The first header with this name (case-insensitive), or nullptr.
  const Header* find(std::string_view name) const;
};

struct ParseResult {
  enum Status { kIncomplete, kComplete, kError } status = kIncomplete;
  size_t consumed = 0;      // bytes of the head, including the blank line (when kComplete)
  int http_status = 0;      // 400, 413, 414, 417, 431, 501, 505 (when kError)
  std::string_view reason;  // short text for the error body / log (static storage)
};

// Incremental parser of one request head at a time (request-line, fields, framing), strict
// per RFC 9112; one per connection, reused for each request on it.
class RequestParser {
 public:
  // Copies `limits` (a temporary is fine).
  explicit RequestParser(const Limits& limits) : limits_(limits) {}

  // Parses the head at the start of `buf` (all bytes received so far for this request) into
  // `out`. Call again with the grown buffer after kIncomplete; scanning resumes where it left.
  // The buffer may move between kIncomplete calls (only offsets are kept); `out` is valid
  // only after kComplete. kComplete and kError leave the parser ready for the next request.
  // Every view in `out` points into `buf`, except `path` of an absolute-form target without
  // a path ("http://h" or "http://h?q"), which is a static "/". With casefold_method or
  // permit_obsolete_folding the head is rewritten in place (buf must be writable then).
  ParseResult parse(std::string_view buf, Request& out);
  // Forget progress, for the next request on the connection.
  void reset();
  // Whether the peer is a forwarded_allow_ips proxy, whose Limits::forwarder_headers pass.
  void trust_forwarder(bool trusted) { forwarder_trusted_ = trusted; }

 private:
  enum class Stage { kRequestLine, kFields };
  ParseResult fail(int status, std::string_view reason);
  ParseResult finish(std::string_view buf, size_t consumed, bool line_parsed_now, Request& out);

  bool forwarded_name(std::string_view name) const;

  Limits limits_;
  bool forwarder_trusted_ = false;
  size_t scanned_ = 0;  // bytes already searched for the end of the head
  Stage stage_ = Stage::kRequestLine;
  size_t line_start_ = 0;       // offset of the line being scanned
  size_t request_line_ = 0;     // offset of the request line (after skipped empty lines)
  size_t fields_start_ = 0;     // offset of the first field line
  size_t fields_ = 0;           // field lines seen so far
  std::string_view authority_;  // absolute-form authority (valid within one parse() call)
};

// Decodes a chunked body in place: data is moved down over chunk framing.
// Trailer fields are validated (syntax, limits, forbidden names) and then dropped.
class ChunkedDecoder {
 public:
  struct Result {
    enum Status { kNeedMore, kDone, kError } status = kNeedMore;
    size_t consumed = 0;  // input bytes used (framing included)
    size_t produced = 0;  // body bytes now at the start of the buffer
    int http_status = 0;
    std::string_view reason;
  };
  // `limits` bounds the trailer section: fields, field_size and head_size (whole section).
  explicit ChunkedDecoder(uint64_t max_body = 0, const Limits& limits = Limits{})
      : max_body_(max_body),
        max_fields_(limits.fields),
        max_field_size_(limits.field_size - std::min<size_t>(limits.field_size, 2)),  // CRLF
        max_trailer_(limits.head_size) {}

  // Decodes from buf[0..len) and moves body bytes to buf[0..produced). Bytes after `consumed`
  // are left for the next call (they may be the next pipelined request once kDone), which
  // must start with them: an incomplete chunk-size or trailer line is not consumed.
  Result decode(char* buf, size_t len);
  void reset(uint64_t max_body);
  uint64_t total() const { return total_; }

  // Longest chunk-size line accepted, extensions included (400 beyond).
  static constexpr size_t kMaxSizeLine = 4096;

 private:
  enum class State { kSize, kData, kDataCr, kDataLf, kTrailer, kDone, kFailed };
  Result fail(Result r, int status, std::string_view reason);

  State state_ = State::kSize;
  uint64_t max_body_ = 0;
  size_t max_fields_;
  size_t max_field_size_;
  size_t max_trailer_;
  uint64_t remaining_ = 0;    // bytes left in the current chunk
  uint64_t total_ = 0;        // body bytes produced so far
  size_t line_scanned_ = 0;   // bytes of the pending line at buf[0] already searched for LF
  size_t trailer_bytes_ = 0;  // bytes of trailer lines consumed
  size_t trailer_fields_ = 0;
  uint64_t framing_debt_ = 0;  // framing bytes not yet paid for by body bytes
  int error_status_ = 0;       // kept so calls after an error repeat it
  std::string_view error_reason_;
};

}  // namespace cppicorn::http
