// Access log: every gunicorn atom, format compilation, buffering and reopen.
#include "log/access_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cppicorn::log {
namespace {

using namespace std::chrono;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A request and the entry describing it, built by hand: "GET /x%20y?a=1 HTTP/1.1".
// Dates are rendered in UTC (the process's TZ is set once) for stable expectations.
class AccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
    req.method = "GET";
    req.target = "/x%20y?a=1";
    req.path = "/x%20y";
    req.query = "a=1";
    req.version_minor = 1;
    req.headers = {{"Host", "example.com"},
                   {"Referer", "http://ref/"},
                   {"User-Agent", "curl/8.0"},
                   {"X-Request-Id", "abc123"}};
    entry.request = &req;
    entry.request_line = "GET /x%20y?a=1 HTTP/1.1";
    entry.remote_addr = "10.0.0.7";
    entry.status = 200;
    entry.body_bytes = 14;
    entry.start = system_clock::time_point(sys_days(year(2026) / 11 / 22) + hours(10));
    entry.duration = microseconds(1234567);
    entry.response_fields = "Content-Type: text/plain\r\nX-Served-By: w1\r\n";
    dir = std::filesystem::temp_directory_path() /
          ("cppicorn_access_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::string render(std::string_view format) {
    std::string error;
    auto log = AccessLog::create(format, &error);
    EXPECT_NE(log, nullptr) << error;
    if (!log) return "<bad format>";
    std::string out;
    log->render(entry, out);
    return out;
  }

  http::Request req;
  AccessEntry entry;
  std::filesystem::path dir;
};

TEST_F(AccessLogTest, DefaultFormat) {
  EXPECT_EQ(render(R"(%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s")"),
            R"(10.0.0.7 - - [22/Nov/2026:10:00:00 +0000] "GET /x%20y?a=1 HTTP/1.1" 200 14 )"
            R"("http://ref/" "curl/8.0")");
}

TEST_F(AccessLogTest, RequestAtoms) {
  EXPECT_EQ(render("%(m)s|%(U)s|%(q)s|%(H)s"), "GET|/x y|a=1|HTTP/1.1");
  req.version_minor = 0;
  req.query = "";
  EXPECT_EQ(render("%(H)s|%(q)s|"), "HTTP/1.0||");
}

TEST_F(AccessLogTest, ResponseAndTimeAtoms) {
  EXPECT_EQ(render("%(s)s %(B)s %(b)s"), "200 14 14");
  EXPECT_EQ(render("%(T)s %(M)s %(D)s %(L)s"), "1 1234 1234567 1.234567");
  entry.duration = microseconds(123);
  EXPECT_EQ(render("%(T)s %(M)s %(D)s %(L)s"), "0 0 123 0.000123");
  entry.body_bytes = 0;
  EXPECT_EQ(render("%(B)s %(b)s"), "0 0");  // gunicorn prints resp.sent, 0 included
  entry.status = 0;
  EXPECT_EQ(render("%(b)s"), "-");  // nothing was sent
}

TEST_F(AccessLogTest, PidAtom) { EXPECT_EQ(render("%(p)s"), "<" + std::to_string(getpid()) + ">"); }

TEST_F(AccessLogTest, PidAtomIsTheChildsAfterFork) {
  auto log = AccessLog::create("%(p)s", nullptr);
  ASSERT_NE(log, nullptr);
  std::string path = (dir / "fork.log").string();
  ASSERT_TRUE(log->open(path, nullptr));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    log->log(entry);
    log->flush();
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(read_file(path), "<" + std::to_string(child) + ">\n");
}

TEST_F(AccessLogTest, UserFromBasicAuth) {
  req.headers.push_back({"Authorization", "Basic dXNlcjpwYXNz"});  // user:pass
  EXPECT_EQ(render("%(u)s"), "user");
  req.headers.back().value = "basic  YWxpY2U=  ";  // "alice", no password
  EXPECT_EQ(render("%(u)s"), "alice");
  req.headers.back().value = "Bearer abc.def";
  EXPECT_EQ(render("%(u)s"), "-");
  req.headers.back().value = "Basic !!!";
  EXPECT_EQ(render("%(u)s"), "-");
  req.headers.back().value = "Basic OnBhc3M=";  // ":pass", empty user
  EXPECT_EQ(render("%(u)s"), "-");
}

TEST_F(AccessLogTest, HeaderAtomsIgnoreCase) {
  EXPECT_EQ(render("%({X-Request-Id}i)s %({x-request-id}i)s %({HOST}i)s"),
            "abc123 abc123 example.com");
  EXPECT_EQ(render("%({content-type}o)s %({X-Served-By}o)s"), "text/plain w1");
  EXPECT_EQ(render("%({X-Missing}i)s %({X-Missing}o)s"), "- -");
  // The last of repeated fields wins, names match in any case, no space after ':' is fine.
  entry.response_fields = "Set-Cookie: a=1\r\nset-cookie:b=2\r\nX-E: \r\n";
  EXPECT_EQ(render("%({SET-COOKIE}o)s <%({x-e}o)s>"), "b=2 <>");
  entry.response_fields = {};
  EXPECT_EQ(render("%({set-cookie}o)s"), "-");
}

TEST_F(AccessLogTest, LastHeaderWinsLikeGunicornsDict) {
  req.headers.push_back({"x-request-id", "second"});
  EXPECT_EQ(render("%({X-Request-Id}i)s"), "second");
}

TEST_F(AccessLogTest, EnvironmentAtoms) {
  setenv("CPPICORN_TEST_VAR", "v1", 1);
  EXPECT_EQ(render("%({CPPICORN_TEST_VAR}e)s %({cppicorn_test_var}e)s"), "v1 v1");
  unsetenv("CPPICORN_TEST_VAR");
  EXPECT_EQ(render("%({CPPICORN_TEST_VAR}e)s"), "-");
  // gunicorn's {var}e reads the WSGI environ: CGI names map onto the request.
  EXPECT_EQ(render("%({REQUEST_METHOD}e)s %({http_user_agent}e)s %({RAW_URI}e)s"),
            "GET curl/8.0 /x%20y?a=1");
}

TEST_F(AccessLogTest, UnknownAtomRendersDash) {
  EXPECT_EQ(render("[%(z)s] [%(hh)s] [%({x}z)s] [%()s]"), "[-] [-] [-] [-]");
}

TEST_F(AccessLogTest, LiteralTextAndPercent) {
  EXPECT_EQ(render("100%% done: %(s)d%%"), "100% done: 200%");
  EXPECT_EQ(render("no atoms at all"), "no atoms at all");
}

TEST_F(AccessLogTest, BadFormatsAreRejected) {
  for (const char* bad : {"%", "abc %", "%(h", "%(h)", "%(h)x", "%s", "%d"}) {
    std::string error;
    EXPECT_EQ(AccessLog::create(bad, &error), nullptr) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST_F(AccessLogTest, QuotesAndControlCharactersAreEscaped) {
  req.headers[2].value = "evil\"agent\n";
  EXPECT_EQ(render(R"("%(a)s")"), R"("evil\"agent\x0a")");
  req.path = "/a%0Ab";
  EXPECT_EQ(render("%(U)s"), R"(/a\x0ab)");
}

TEST_F(AccessLogTest, WithoutRequest) {
  entry.request = nullptr;
  entry.request_line = "";
  EXPECT_EQ(render(R"("%(r)s" %(m)s %(U)s %(H)s %(f)s %(a)s %(u)s [%(q)s])"),
            R"("-" - - - - - - [])");
}

TEST_F(AccessLogTest, RequestLineBuiltWhenNotGiven) {
  entry.request_line = "";
  EXPECT_EQ(render("%(r)s"), "GET /x%20y?a=1 HTTP/1.1");
}

TEST_F(AccessLogTest, DateIsNowWhenStartIsUnset) {
  entry.start = {};
  // The same clock the log reads: std::time() reads the kernel's coarse clock, which can
  // still show the previous second for a tick after system_clock has moved on.
  auto stamp = [] {
    std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "[%d/%b/%Y:%H:%M:%S %z]", &tm);
    return std::string(buf);
  };
  std::string before = stamp();
  std::string out = render("%(t)s");
  std::string after = stamp();
  // Now, to the second (either side of a second boundary).
  EXPECT_TRUE(out == before || out == after) << out << " vs " << before << " / " << after;
}

TEST_F(AccessLogTest, RenderAppendsWithoutReallocating) {
  auto log = AccessLog::create(R"(%(h)s %(t)s "%(r)s" %(s)s %({x-request-id}i)s %(L)s)", nullptr);
  ASSERT_NE(log, nullptr);
  std::string out = "prefix ";
  out.reserve(4096);
  const char* data = out.data();
  for (int i = 0; i < 20; ++i) log->render(entry, out);
  EXPECT_EQ(out.data(), data);
  EXPECT_TRUE(out.starts_with("prefix 10.0.0.7 [22/Nov/2026:10:00:00 +0000]"));
}

TEST_F(AccessLogTest, BuffersUntilFlush) {
  auto log = AccessLog::create("%(s)s %(U)s", nullptr);
  ASSERT_NE(log, nullptr);
  std::string path = (dir / "access.log").string();
  std::string error;
  ASSERT_TRUE(log->open(path, &error)) << error;
  log->log(entry);
  EXPECT_EQ(read_file(path), "");
  log->flush();
  EXPECT_EQ(read_file(path), "200 /x y\n");
  log->flush();  // nothing new
  EXPECT_EQ(read_file(path), "200 /x y\n");
}

TEST_F(AccessLogTest, WritesWhenTheBufferFills) {
  auto log = AccessLog::create("%(s)s %(U)s", nullptr);
  ASSERT_NE(log, nullptr);
  std::string path = (dir / "access.log").string();
  ASSERT_TRUE(log->open(path, nullptr));
  const std::string line = "200 /x y\n";
  size_t lines = 40 * 1024 / line.size();
  for (size_t i = 0; i < lines; ++i) log->log(entry);
  std::string written = read_file(path);
  EXPECT_GE(written.size(), 32u * 1024);
  EXPECT_LT(written.size(), lines * line.size());
  EXPECT_EQ(written.size() % line.size(), 0u);  // whole lines only
  log.reset();                                  // the destructor flushes the rest
  EXPECT_EQ(read_file(path).size(), lines * line.size());
}

TEST_F(AccessLogTest, OpenFailsForBadPath) {
  auto log = AccessLog::create("%(s)s", nullptr);
  std::string error;
  EXPECT_FALSE(log->open((dir / "no/such/dir/log").string(), &error));
  EXPECT_NE(error.find("no/such/dir"), std::string::npos) << error;
}

TEST_F(AccessLogTest, ReopenAfterRename) {
  auto log = AccessLog::create("%(s)s", nullptr);
  std::string path = (dir / "access.log").string();
  ASSERT_TRUE(log->open(path, nullptr));
  log->log(entry);
  std::filesystem::rename(path, path + ".1");
  entry.status = 201;
  log->log(entry);
  log->reopen();  // flushes both lines to the renamed file first
  entry.status = 202;
  log->log(entry);
  log->flush();
  EXPECT_EQ(read_file(path + ".1"), "200\n201\n");
  EXPECT_EQ(read_file(path), "202\n");
}

TEST_F(AccessLogTest, SetOwnerAppliesAcrossReopen) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  auto log = AccessLog::create("%(s)s", nullptr);
  std::string path = (dir / "access.log").string();
  ASSERT_TRUE(log->open(path, nullptr));
  log->set_owner(65534, 65534);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  std::filesystem::rename(path, path + ".1");
  log->reopen();
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
}

}  // namespace
}  // namespace cppicorn::log
