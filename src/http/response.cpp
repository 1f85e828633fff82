#include "http/response.h"

#include <fmt/format.h>

#include <charconv>

namespace cppicorn::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
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
  out.append(reason_phrase(head.status));
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
