// Value parsing shared by every source: header_map, umask forms, addresses, shell splitting,
// suggestions.
#include <gtest/gtest.h>

#include "config/sources.h"
#include "config_test_util.h"

namespace cppicorn::config {
namespace {

using testing::run;

HeaderUnderscores header_map(const std::string& v) {
  LoadResult r = run({"--header-map", v, "a:b"});
  EXPECT_FALSE(r.exit_now) << r.error;
  return r.settings.header_underscores;
}

TEST(Values, HeaderMap) {
  EXPECT_EQ(header_map("drop"), HeaderUnderscores::kDrop);
  EXPECT_EQ(header_map("refuse"), HeaderUnderscores::kRefuse);
  EXPECT_EQ(header_map("dangerous"), HeaderUnderscores::kAllow);
  EXPECT_EQ(header_map("allow"), HeaderUnderscores::kAllow);
  EXPECT_EQ(header_map("DROP"), HeaderUnderscores::kDrop);
  EXPECT_EQ(run({"--header-map", "keep", "a:b"}).error,
            "--header-map: expected drop, refuse or dangerous, got 'keep'");
}

int umask_of(const std::string& v) {
  LoadResult r = run({"--umask", v, "a:b"});
  EXPECT_FALSE(r.exit_now) << r.error;
  return r.settings.umask;
}

TEST(Values, UmaskForms) {
  EXPECT_EQ(umask_of("0o22"), 022);
  EXPECT_EQ(umask_of("0O77"), 077);
  EXPECT_EQ(umask_of("022"), 022);
  EXPECT_EQ(umask_of("18"), 18);
  EXPECT_EQ(umask_of("0"), 0);
  EXPECT_EQ(umask_of("0o777"), 0777);
  EXPECT_EQ(run({"-m", "0o8", "a:b"}).error,
            "--umask: expected an octal mode like 0o22 or 022, or a decimal integer, got '0o8'");
  EXPECT_EQ(run({"-m", "01000", "a:b"}).error, "--umask: must be between 0 and 511, got '01000'");
}

std::string bind_of(std::string v) {
  std::string err = check_bind(v);
  return err.empty() ? v : "ERR " + err;
}

TEST(Values, TlsSettings) {
  std::string v = "2";
  EXPECT_EQ(check_cert_reqs(v), "");
  EXPECT_EQ(v, "required");
  v = "Optional";
  EXPECT_EQ(check_cert_reqs(v), "");
  EXPECT_EQ(v, "optional");
  v = "3";
  EXPECT_EQ(check_cert_reqs(v), "expected none, optional or required (or 0, 1, 2), got '3'");
  v = "TLSv1.3";
  EXPECT_EQ(check_tls_version(v), "");
  EXPECT_EQ(v, "1.3");
  v = "1.1";
  EXPECT_EQ(check_tls_version(v), "expected 1.2 or 1.3, got '1.1'");
}

TEST(Values, BindSyntax) {
  EXPECT_EQ(bind_of("127.0.0.1:8000"), "127.0.0.1:8000");
  EXPECT_EQ(bind_of("localhost:80"), "localhost:80");
  EXPECT_EQ(bind_of("[::1]:8000"), "[::1]:8000");
  EXPECT_EQ(bind_of("[::]"), "[::]:8000");
  EXPECT_EQ(bind_of("unix:/run/app.sock"), "unix:/run/app.sock");
  EXPECT_EQ(bind_of("unix:///run/app.sock"), "unix:/run/app.sock");
  EXPECT_EQ(bind_of("tcp://0.0.0.0:80"), "0.0.0.0:80");
  EXPECT_EQ(bind_of("fd://3"), "fd://3");
  EXPECT_EQ(bind_of("fd://web"), "fd://web");
  EXPECT_EQ(bind_of("example.org"), "example.org:8000");
  EXPECT_EQ(bind_of(":9000"), "0.0.0.0:9000");
  EXPECT_EQ(bind_of("::1:8000"),
            "ERR invalid address '::1:8000' (IPv6 addresses need brackets, as in [::1]:8000)");
  EXPECT_EQ(bind_of("[zz]:80"), "ERR invalid address '[zz]:80' (not an IPv6 address)");
  EXPECT_EQ(bind_of("host:70000"), "ERR invalid address 'host:70000' (invalid port)");
  EXPECT_EQ(bind_of("unix:"), "ERR invalid address 'unix:' (empty unix socket path)");
  EXPECT_EQ(bind_of("fd://"), "ERR invalid address 'fd://' (expected fd://N or fd://NAME)");
  EXPECT_EQ(bind_of("ho st:80"),
            "ERR invalid address 'ho st:80' (expected [https://|http://]HOST:PORT, [IPV6]:PORT, "
            "unix:PATH, fd://N or fd://NAME)");
  // A scheme prefix is kept, the address after it normalised.
  EXPECT_EQ(bind_of("https://:443"), "https://0.0.0.0:443");
  EXPECT_EQ(bind_of("https://tcp://[::]:443"), "https://[::]:443");
  EXPECT_EQ(bind_of("http://unix:///run/a.sock"), "http://unix:/run/a.sock");
  EXPECT_EQ(bind_of("https://fd://web"), "https://fd://web");
  EXPECT_EQ(bind_of("https://http://x:1"),
            "ERR invalid address 'https://http://x:1' (expected [https://|http://]HOST:PORT, "
            "[IPV6]:PORT, unix:PATH, fd://N or fd://NAME)");
  EXPECT_EQ(run({"-b", "[::1", "a:b"}).error, "--bind: invalid address '[::1' (missing ']')");
}

TEST(Values, StatsdSettings) {
  auto host = [](std::string v) {
    std::string e = check_statsd_host(v);
    return e.empty() ? v : "ERR " + e;
  };
  EXPECT_EQ(host("localhost:8125"), "localhost:8125");
  EXPECT_EQ(host("statsd"), "statsd:8125");  // gunicorn's default port
  EXPECT_EQ(host("[::1]:9125"), "[::1]:9125");
  EXPECT_EQ(host("[::1]"), "[::1]:8125");
  EXPECT_EQ(host("unix:///run/statsd.sock"), "unix:/run/statsd.sock");
  EXPECT_EQ(host("unix:/run/statsd.sock"), "unix:/run/statsd.sock");
  EXPECT_EQ(host("host:0"),
            "ERR invalid statsd address 'host:0' (expected HOST:PORT, HOST (port 8125), "
            "[IPV6]:PORT or unix:PATH)");
  EXPECT_TRUE(host("host:99999").starts_with("ERR "));
  EXPECT_TRUE(host("unix:").starts_with("ERR "));
  EXPECT_TRUE(host("[zz]:1").starts_with("ERR "));
  LoadResult r = run({"--statsd-host", "127.0.0.1:9", "--statsd-prefix", "shop...",
                      "--dogstatsd-tags", "env:ci", "a:b"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.statsd_host, "127.0.0.1:9");
  EXPECT_EQ(r.settings.statsd_prefix, "shop.");
  EXPECT_EQ(r.settings.dogstatsd_tags, "env:ci");
  EXPECT_EQ(run({"--statsd-host", "a b", "a:b"}).error,
            "--statsd-host: invalid statsd address 'a b' (expected HOST:PORT, HOST (port "
            "8125), [IPV6]:PORT or unix:PATH)");
}

TEST(Values, TrustedAddresses) {
  std::string v = "10.0.0.0/8";
  EXPECT_EQ(check_ip_or_network(v), "");
  v = "::1";
  EXPECT_EQ(check_ip_or_network(v), "");
  v = "10.0.0.0/33";
  EXPECT_EQ(check_ip_or_network(v), "invalid network '10.0.0.0/33' (prefix length must be 0..32)");
  EXPECT_EQ(run({"--forwarded-allow-ips", "10.0.0.1,bogus", "a:b"}).error,
            "--forwarded-allow-ips: invalid address 'bogus' (expected an IP address, a CIDR "
            "network or '*')");
}

TEST(Values, ShellSplit) {
  std::vector<std::string> w;
  EXPECT_EQ(split_shell(R"(  -w 3  --name 'my app' -b "a b\"c" x\ y '' )", w), "");
  EXPECT_EQ(w,
            (std::vector<std::string>{"-w", "3", "--name", "my app", "-b", "a b\"c", "x y", ""}));
  w.clear();
  EXPECT_EQ(split_shell("\"abc", w), "unterminated double quote");
  EXPECT_EQ(split_shell("abc\\", w), "trailing backslash");
}

TEST(Values, Nearest) {
  std::vector<std::string> names{"workers", "worker_connections", "timeout", "bind"};
  EXPECT_EQ(nearest("wokers", names), "workers");
  EXPECT_EQ(nearest("wrokers", names), "workers");
  EXPECT_EQ(nearest("bnid", names), "bind");
  EXPECT_EQ(nearest("zzz", names), "");
}

TEST(Values, Doubles) {
  LoadResult r = run({"--keep-alive", "0.25", "--timeout", "1e2", "a:b"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.keepalive, 0.25);
  EXPECT_EQ(r.settings.timeout, 100);
  EXPECT_EQ(run({"-t", "nan", "a:b"}).error, "--timeout: expected a number, got 'nan'");
}

TEST(Values, LimitCap) {
  EXPECT_EQ(limit_cap(0), SIZE_MAX);
  EXPECT_EQ(limit_cap(4094), 4094u);
}

}  // namespace
}  // namespace cppicorn::config
