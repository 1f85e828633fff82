// Response heads and error responses: the status line (the app's reason phrase or the
// registry's), the server's fields, chunk framing.
#include "http/response.h"

#include <fmt/format.h>

#include <charconv>

namespace cppicorn::http {

// Every code in IANA's HTTP Status Code Registry (RFC 9110 15 and the RFCs it cites), as of
// 2026. 306 is "(Unused)" and 418 is reserved ("(Unused)") there; 418 keeps RFC 2324's phrase,
// which apps and clients know it by. Apps may send any other phrase of their own.
std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 208:
      return "Already Reported";
    case 226:
      return "IM Used";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 423:
      return "Locked";
    case 424:
      return "Failed Dependency";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 510:
      return "Not Extended";
    case 511:
      return "Network Authentication Required";
    default:
      return "Unknown";
  }
}

std::string_view DateCache::line() {
  std::time_t now = std::time(nullptr);
  if (now != second_) {
    second_ = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    len_ = std::strftime(buf_, sizeof buf_, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  }
  return {buf_, len_};
}

namespace {

void append_number(uint64_t n, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

void render_head(const ResponseHead& head, DateCache& date, std::string& out) {
  // RFC 9110 6.2: answer with the highest 1.x version we speak, whatever the client sent.
  out.append("HTTP/1.1 ");
  append_number(static_cast<uint64_t>(head.status), out);
  out.push_back(' ');
  out.append(head.reason.empty() ? reason_phrase(head.status) : head.reason);
  out.append("\r\n");
  if (!head.server.empty()) {
    out.append("Server: ");
    out.append(head.server);
    out.append("\r\n");
  }
  out.append(date.line());
  switch (head.framing) {
    case Framing::kContentLength:
      out.append("Content-Length: ");
      append_number(head.content_length, out);
      out.append("\r\n");
      break;
    case Framing::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::kClose:
    case Framing::kNoBody:
      break;
  }
  // HTTP/1.1 keeps connections open unless told; HTTP/1.0 closes unless told.
  if (!head.keep_alive) {
    out.append("Connection: close\r\n");
  } else if (head.version_minor == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append(head.app_fields);
  out.append("\r\n");
}

void render_error(int status, std::string_view message, std::string_view server, DateCache& date,
                  std::string& out, std::string_view extra_fields) {
  std::string body = fmt::format("{} {}\n{}\n", status, reason_phrase(status), message);
  const std::string fields =
      fmt::format("{}Content-Type: text/plain; charset=utf-8\r\n", extra_fields);
  ResponseHead head;
  head.status = status;
  head.keep_alive = false;
  head.content_length = body.size();
  head.server = server;
  head.app_fields = fields;
  render_head(head, date, out);
  out.append(body);
}

void render_chunk_size(size_t size, std::string& out) {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, size, 16);
  out.append(buf, end);
  out.append("\r\n");
}

}  // namespace cppicorn::http
