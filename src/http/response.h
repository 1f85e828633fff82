// Response heads: the status line, the server's own fields (Date, Server, framing,
// Connection) and the app's fields, rendered into a reusable buffer for one writev.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace cppicorn::http {

// "OK" for 200 and so on (every IANA-registered code); "Unknown" for others.
std::string_view reason_phrase(int status);

// Whether an app's reason phrase may go on the status line: no CR, LF or other CTL
// (RFC 9112 4: HTAB / SP / VCHAR / obs-text). Inline: the WSGI plugin checks it too.
inline bool valid_reason(std::string_view reason) {
  for (char c : reason) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

// Whether a response with this status carries content (1xx, 204 and 304 do not).
inline bool status_allows_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

// The "Date: ...\r\n" line, formatted at most once a second.
class DateCache {
 public:
  std::string_view line();

 private:
  std::time_t second_ = 0;
  char buf_[48] = {};
  size_t len_ = 0;
};

// How the body is delimited.
enum class Framing { kContentLength, kChunked, kClose, kNoBody };

struct ResponseHead {
  int status = 200;
  int version_minor = 1;
  bool keep_alive = true;
  Framing framing = Framing::kContentLength;
  uint64_t content_length = 0;
  std::string_view app_fields;  // "Name: value\r\n" lines already validated
  std::string_view server;      // empty: no Server field
  std::string_view reason;      // the app's phrase (valid_reason); empty: reason_phrase()
};

// Appends the head (ending with the blank line) to out.
void render_head(const ResponseHead& head, DateCache& date, std::string& out);

// Appends a complete short error response (text/plain body, Connection: close), with
// `extra_fields` ("Name: value\r\n" lines) among its fields.
void render_error(int status, std::string_view message, std::string_view server, DateCache& date,
                  std::string& out, std::string_view extra_fields = {});

// Appends one chunk's framing: "<hex size>\r\n" (the caller adds data and "\r\n").
void render_chunk_size(size_t size, std::string& out);

}  // namespace cppicorn::http
