// Validators for text settings: listen addresses, trusted proxy addresses, log levels.
// They normalise as well as check, so the rest of the server sees one spelling per meaning
// (e.g. gunicorn's "unix://PATH" arrives as "unix:PATH").
#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "config/table.h"
#include "http/chars.h"

namespace cppicorn::config {
namespace {

constexpr std::string_view kDefaultPort = "8000";  // gunicorn's, for a bare HOST

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool valid_port(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return all_digits(s) && ec == std::errc() && end == s.data() + s.size() && v <= 65535;
}

// Host names and IPv4 literals: letters, digits, '-', '.', '_' (resolution happens at bind).
bool valid_host(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

bool valid_ipv6(std::string_view s) {
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(s).c_str(), &addr) == 1;
}

std::string bad_address(std::string_view v, std::string_view why = {}) {
  std::string out = "invalid address '" + std::string(v) + "'";
  if (!why.empty()) return out + " (" + std::string(why) + ")";
  return out +
         " (expected [https://|http://]HOST:PORT, [IPV6]:PORT, unix:PATH, fd://N or fd://NAME)";
}

}  // namespace

// A bind may name its scheme: https://ADDRESS is a TLS listener, http://ADDRESS a plain one
// even when certfile is set. The prefix is kept; the address after it is normalised.
std::string check_bind(std::string& v) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (!v.starts_with(scheme)) continue;
    std::string rest = v.substr(scheme.size());
    if (rest.starts_with("https://") || rest.starts_with("http://")) return bad_address(v);
    std::string error = check_bind(rest);
    if (!error.empty()) return error;
    v = std::string(scheme) + rest;
    return "";
  }
  const std::string original = v;
  if (v.starts_with("tcp://")) v.erase(0, 6);
  if (v.starts_with("unix://")) v.erase(5, 2);  // unix://PATH -> unix:PATH
  if (v.starts_with("unix:")) {
    return v.size() > 5 ? "" : bad_address(original, "empty unix socket path");
  }
  if (v.starts_with("fd://")) {
    std::string_view id = std::string_view(v).substr(5);
    if (all_digits(id)) {
      int fd = 0;
      auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), fd);
      return ec == std::errc() ? "" : bad_address(original, "descriptor out of range");
    }
    // systemd's FileDescriptorName=: up to 255 printable ASCII characters, no ':'.
    bool ok = !id.empty() && id.size() <= 255 && std::all_of(id.begin(), id.end(), [](char c) {
      return c > ' ' && c < 0x7f && c != ':';
    });
    return ok ? "" : bad_address(original, "expected fd://N or fd://NAME");
  }
  std::string_view host;
  std::string_view port = kDefaultPort;
  std::string_view sv = v;
  if (sv.starts_with('[')) {
    size_t close = sv.find(']');
    if (close == std::string_view::npos) return bad_address(original, "missing ']'");
    host = sv.substr(1, close - 1);
    std::string_view after = sv.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return bad_address(original);
      port = after.substr(1);
    }
    if (!valid_ipv6(host)) return bad_address(original, "not an IPv6 address");
    if (!valid_port(port)) return bad_address(original, "invalid port");
    v = "[" + std::string(host) + "]:" + std::string(port);
    return "";
  }
  size_t colon = sv.rfind(':');
  if (colon != std::string_view::npos) {
    host = sv.substr(0, colon);
    port = sv.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad_address(original, "IPv6 addresses need brackets, as in [::1]:8000");
    }
  } else {
    host = sv;
  }
  if (host.empty()) host = "0.0.0.0";  // gunicorn's ":PORT" means every IPv4 interface
  if (!valid_host(host)) return bad_address(original);
  if (!valid_port(port)) return bad_address(original, "invalid port");
  v = std::string(host) + ":" + std::string(port);
  return "";
}

// gunicorn's statsd_host: HOST:PORT, HOST (port 8125), [IPV6]:PORT, unix:PATH or unix://PATH;
// normalised to HOST:PORT, [IPV6]:PORT or unix:PATH.
std::string check_statsd_host(std::string& v) {
  if (v.empty()) return "";
  const std::string original = v;
  auto bad = [&] {
    return "invalid statsd address '" + original +
           "' (expected HOST:PORT, HOST (port 8125), [IPV6]:PORT or unix:PATH)";
  };
  if (v.starts_with("unix://")) v.erase(5, 2);
  if (v.starts_with("unix:")) return v.size() > 5 ? "" : bad();
  std::string_view host = v, port = "8125";
  if (v.starts_with('[')) {
    size_t close = v.find(']');
    if (close == std::string::npos) return bad();
    host = std::string_view(v).substr(1, close - 1);
    std::string_view rest = std::string_view(v).substr(close + 1);
    if (!rest.empty() && (!rest.starts_with(':') || rest.size() == 1)) return bad();
    if (!rest.empty()) port = rest.substr(1);
    if (!valid_ipv6(host) || !valid_port(port)) return bad();
    v = "[" + std::string(host) + "]:" + std::string(port);
    return "";
  }
  if (size_t colon = v.rfind(':'); colon != std::string::npos) {
    host = std::string_view(v).substr(0, colon);
    port = std::string_view(v).substr(colon + 1);
  }
  if (!valid_host(host) || !valid_port(port) || port == "0") return bad();
  v = std::string(host) + ":" + std::string(port);
  return "";
}

// gunicorn's statsd_prefix ends in exactly one dot ("app" and "app..." both mean "app.").
std::string check_statsd_prefix(std::string& v) {
  while (v.ends_with('.')) v.pop_back();
  if (!v.empty()) v += '.';
  return "";
}

std::string check_ip_or_network(std::string& v) {
  if (v == "*") return "";
  std::string_view sv = v;
  size_t slash = sv.find('/');
  std::string addr(sv.substr(0, slash));
  in6_addr buf{};
  int max_prefix = 0;
  if (inet_pton(AF_INET, addr.c_str(), &buf) == 1) {
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), &buf) == 1) {
    max_prefix = 128;
  } else {
    return "invalid address '" + v + "' (expected an IP address, a CIDR network or '*')";
  }
  if (slash != std::string_view::npos) {
    std::string_view prefix = sv.substr(slash + 1);
    int p = -1;
    auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), p);
    if (!all_digits(prefix) || ec != std::errc() || p > max_prefix) {
      return "invalid network '" + v + "' (prefix length must be 0.." + std::to_string(max_prefix) +
             ")";
    }
  }
  return "";
}

std::string check_log_level(std::string& v) {
  std::string l = v;
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view level : {"debug", "info", "warning", "error", "critical"}) {
    if (l == level) {
      v = l;
      return "";
    }
  }
  return "expected debug, info, warning, error or critical, got '" + v + "'";
}

// gunicorn's cert_reqs is ssl.CERT_NONE/OPTIONAL/REQUIRED, i.e. 0, 1 or 2: both spellings.
std::string check_cert_reqs(std::string& v) {
  std::string l = v;
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const char* names[] = {"none", "optional", "required"};
  for (int i = 0; i < 3; ++i) {
    if (l == names[i] || l == std::to_string(i)) {
      v = names[i];
      return "";
    }
  }
  return "expected none, optional or required (or 0, 1, 2), got '" + v + "'";
}

std::string check_tls_version(std::string& v) {
  std::string l = v;
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l.starts_with("tlsv")) l.erase(0, 4);
  if (l.starts_with("tls")) l.erase(0, 3);
  if (l == "1.2" || l == "1.3") {
    v = l;
    return "";
  }
  return "expected 1.2 or 1.3, got '" + v + "'";
}

}  // namespace cppicorn::config

namespace cppicorn::config {

std::string check_worker_class(std::string& v) {
  // gunicorn's names and class paths, and the ones deployments write for uvicorn's worker
  // (the most common FastAPI line), to the class that does the same job here.
  static constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
      {"sync", "sync"},
      {"gunicorn.workers.sync.SyncWorker", "sync"},
      {"gthread", "gthread"},
      {"gunicorn.workers.gthread.ThreadWorker", "gthread"},
      {"asgi", "asgi"},
      {"gunicorn.workers.gasgi.ASGIWorker", "asgi"},
      {"uvicorn.workers.UvicornWorker", "asgi"},
      {"uvicorn.workers.UvicornH11Worker", "asgi"},
      {"uvicorn_worker.UvicornWorker", "asgi"},
      {"uvicorn_worker.UvicornH11Worker", "asgi"},
  };
  static constexpr std::string_view kGreen[] = {"gevent",
                                                "eventlet",
                                                "tornado",
                                                "gunicorn.workers.ggevent.GeventWorker",
                                                "gunicorn.workers.geventlet.EventletWorker",
                                                "gunicorn.workers.gtornado.TornadoWorker"};
  for (auto [alias, name] : kAliases) {
    if (v == alias) {
      v = name;
      return "";
    }
  }
  for (std::string_view green : kGreen) {
    if (v == green) {
      return "'" + v +
             "' is not available: cppicorn has no green-thread (monkey-patching) workers; use "
             "gthread for blocking code that waits on I/O, or asgi for an async app";
    }
  }
  return "unknown worker class '" + v + "' (expected sync, gthread or asgi)";
}

}  // namespace cppicorn::config

namespace cppicorn::config {

std::string check_env(std::string& v) {
  size_t eq = v.find('=');
  if (eq == 0 || eq == std::string::npos) {
    return "invalid environment setting '" + v + "' (expected KEY=VALUE)";
  }
  return "";
}

namespace {

// A header name as gunicorn keeps them (upper case), or an error naming `what`.
std::string upper_field_name(std::string& name, std::string_view what, std::string_view whole) {
  if (name.empty() || !http::chars::all_of(http::chars::kToken, name)) {
    return fmt::format("invalid {} '{}' (expected a header name)", what, whole);
  }
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return "";
}

}  // namespace

std::string check_scheme_header(std::string& v) {
  size_t eq = v.find('=');
  if (eq == std::string::npos) {
    return fmt::format("invalid scheme header '{}' (expected NAME=VALUE)", v);
  }
  std::string name(http::chars::trim_ows(std::string_view(v).substr(0, eq)));
  std::string value(http::chars::trim_ows(std::string_view(v).substr(eq + 1)));
  if (std::string err = upper_field_name(name, "scheme header", v); !err.empty()) return err;
  if (value.empty() || !http::chars::all_of(http::chars::kFieldValue, value)) {
    return fmt::format("invalid scheme header '{}' (expected a value after '=')", v);
  }
  v = name + "=" + value;
  return "";
}

std::string check_forwarder_header(std::string& v) {
  return v == "*" ? "" : upper_field_name(v, "forwarder header", v);
}

}  // namespace cppicorn::config

namespace cppicorn::config {

// One of a few lower-case words (asgi_loop, asgi_lifespan).
std::string check_choice(std::string& v, std::initializer_list<std::string_view> choices) {
  std::string lower = v;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string names;
  for (std::string_view c : choices) {
    if (lower == c) {
      v = lower;
      return "";
    }
    names += (names.empty() ? "" : ", ") + std::string(c);
  }
  return "expected " + names + ", got '" + v + "'";
}

std::string check_asgi_loop(std::string& v) {
  return check_choice(v, {"auto", "asyncio", "uvloop"});
}

std::string check_asgi_lifespan(std::string& v) { return check_choice(v, {"auto", "on", "off"}); }

std::string check_proxy_protocol(std::string& v) {
  std::string lower = v;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "false" || lower == "0" || lower == "no") lower = "off";
  if (lower == "true" || lower == "1" || lower == "yes") lower = "auto";
  if (lower != "off" && lower != "v1" && lower != "v2" && lower != "auto") {
    return "expected off, v1, v2 or auto, got '" + v + "'";
  }
  v = lower;
  return "";
}

}  // namespace cppicorn::config
