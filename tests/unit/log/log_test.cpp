// Error log: gunicorn's line shape, levels, journald prefixes, reopen, pid after fork.
#include "log/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace cppicorn::log {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Each test gets a fresh directory; the default logger is reset to stderr afterwards.
class ErrorLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("cppicorn_errlog_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
    path = (dir / "error.log").string();
  }
  void TearDown() override {
    unsetenv("JOURNAL_STREAM");
    std::string error;
    init("info", "-", &error);
    std::filesystem::remove_all(dir);
  }

  // Runs fn with stderr redirected to `file`, JOURNAL_STREAM set by make_env(fd).
  template <typename Fn, typename Env>
  void with_stderr(const std::string& file, Env make_env, Fn fn) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    int saved = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    std::string env = make_env(STDERR_FILENO);
    setenv("JOURNAL_STREAM", env.c_str(), 1);
    fn();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
  }

  static std::string dev_ino(int fd) {
    struct stat st;
    fstat(fd, &st);
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  }

  std::filesystem::path dir;
  std::string path;
};

TEST_F(ErrorLogTest, GunicornLineShape) {
  std::string error;
  ASSERT_TRUE(init("info", path, &error)) << error;
  spdlog::info("Booting worker with pid: {}", 4242);
  std::string pid = std::to_string(getpid());
  std::regex line(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[)" + pid +
                  R"(\] \[INFO\] Booting worker with pid: 4242\n)");
  std::string text = read_file(path);
  EXPECT_TRUE(std::regex_match(text, line)) << text;
}

TEST_F(ErrorLogTest, LevelNamesLikePythonLogging) {
  ASSERT_TRUE(init("debug", path, nullptr));
  spdlog::debug("d");
  spdlog::info("i");
  spdlog::warn("w");
  spdlog::error("e");
  spdlog::critical("c");
  std::regex line(R"(\[[^\]]+\] \[\d+\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] (\w)\n?)");
  std::string text = read_file(path);
  std::string levels;
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) {
    levels += (*it)[1].str() + ":" + (*it)[2].str() + " ";
  }
  EXPECT_EQ(levels, "DEBUG:d INFO:i WARNING:w ERROR:e CRITICAL:c ");
}

TEST_F(ErrorLogTest, LevelFiltering) {
  ASSERT_TRUE(init("warning", path, nullptr));
  spdlog::debug("hidden");
  spdlog::info("hidden");
  spdlog::warn("shown-w");
  spdlog::error("shown-e");
  std::string text = read_file(path);
  EXPECT_EQ(text.find("hidden"), std::string::npos) << text;
  EXPECT_NE(text.find("[WARNING] shown-w\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[ERROR] shown-e\n"), std::string::npos) << text;
}

TEST_F(ErrorLogTest, LevelNames) {
  for (const char* ok : {"debug", "info", "warning", "warn", "error", "critical", "INFO"}) {
    std::string error;
    EXPECT_TRUE(init(ok, path, &error)) << ok << ": " << error;
  }
  ASSERT_TRUE(init("WARN", path, nullptr));
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  std::string error;
  EXPECT_FALSE(init("verbose", path, &error));
  EXPECT_NE(error.find("verbose"), std::string::npos);
}

TEST_F(ErrorLogTest, OpenFailure) {
  std::string error;
  EXPECT_FALSE(init("info", (dir / "missing/dir/log").string(), &error));
  EXPECT_NE(error.find("missing/dir"), std::string::npos) << error;
}

TEST_F(ErrorLogTest, AppendsToExistingFile) {
  std::ofstream(path) << "old line\n";
  ASSERT_TRUE(init("info", path, nullptr));
  spdlog::info("new");
  std::string text = read_file(path);
  EXPECT_TRUE(text.starts_with("old line\n[")) << text;
}

TEST_F(ErrorLogTest, JournalPrefixesWhenStderrIsTheJournalStream) {
  std::string out = (dir / "stderr").string();
  with_stderr(out, dev_ino, [&] {
    ASSERT_TRUE(init("debug", "-", nullptr));
    spdlog::debug("d");
    spdlog::info("i");
    spdlog::warn("w");
    spdlog::error("e");
    spdlog::critical("c");
    spdlog::error("Traceback:\n  line 1");
    flush();
  });
  EXPECT_EQ(read_file(out), "<7>d\n<6>i\n<4>w\n<3>e\n<2>c\n<3>Traceback:\n<3>  line 1\n");
}

TEST_F(ErrorLogTest, NoJournalPrefixesForAnotherStream) {
  std::string out = (dir / "stderr").string();
  auto other = [](int) { return std::string("1:1"); };
  with_stderr(out, other, [&] {
    ASSERT_TRUE(init("info", "-", nullptr));
    spdlog::info("plain");
  });
  std::string text = read_file(out);
  EXPECT_TRUE(std::regex_match(text, std::regex(R"(\[.+\] \[\d+\] \[INFO\] plain\n)"))) << text;
}

TEST_F(ErrorLogTest, NoJournalPrefixesInAFile) {
  std::string out = (dir / "stderr").string();
  with_stderr(out, dev_ino, [&] {
    ASSERT_TRUE(init("info", path, nullptr));
    spdlog::info("to file");
  });
  EXPECT_EQ(read_file(out), "");
  EXPECT_NE(read_file(path).find("] [INFO] to file\n"), std::string::npos);
}

TEST_F(ErrorLogTest, IsJournalStream) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  std::string good = dev_ino(fd);
  EXPECT_TRUE(is_journal_stream(fd, good.c_str()));
  EXPECT_FALSE(is_journal_stream(fd, nullptr));
  EXPECT_FALSE(is_journal_stream(fd, ""));
  EXPECT_FALSE(is_journal_stream(fd, (good + "x").c_str()));
  EXPECT_FALSE(is_journal_stream(fd, "garbage"));
  EXPECT_FALSE(is_journal_stream(fd, "1:1"));
  ::close(fd);
  EXPECT_FALSE(is_journal_stream(fd, good.c_str()));  // closed descriptor
}

TEST_F(ErrorLogTest, ReopenAfterRename) {
  ASSERT_TRUE(init("info", path, nullptr));
  spdlog::info("one");
  std::filesystem::rename(path, path + ".1");
  spdlog::info("two");
  reopen();
  spdlog::info("three");
  std::string rotated = read_file(path + ".1");
  std::string fresh = read_file(path);
  EXPECT_NE(rotated.find("one\n"), std::string::npos);
  EXPECT_NE(rotated.find("two\n"), std::string::npos);
  EXPECT_EQ(rotated.find("three"), std::string::npos);
  EXPECT_NE(fresh.find("] [INFO] three\n"), std::string::npos) << fresh;
  EXPECT_EQ(fresh.find("two"), std::string::npos);
}

TEST_F(ErrorLogTest, SetOwnerAppliesAcrossReopen) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  ASSERT_TRUE(init("info", path, nullptr));
  set_owner(65534, 65534);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  std::filesystem::rename(path, path + ".1");
  reopen();
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
}

TEST_F(ErrorLogTest, ReopenOnStderrIsANoop) {
  // fd 2 is a file for the test, so what reaches stderr can be read back: after reopen it is
  // the same file (not replaced, not closed) and still gets every line.
  int saved = dup(2);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  dup2(fd, 2);
  ::close(fd);
  struct stat before {};
  fstat(2, &before);
  ASSERT_TRUE(init("info", "-", nullptr));
  spdlog::info("before the reopen");
  reopen();
  spdlog::info("after the reopen");
  flush();
  struct stat after {};
  int still = fstat(2, &after);
  dup2(saved, 2);
  ::close(saved);
  ASSERT_EQ(still, 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  std::string text = read_file(path);
  EXPECT_NE(text.find("before the reopen"), std::string::npos) << text;
  EXPECT_NE(text.find("after the reopen"), std::string::npos) << text;
}

TEST_F(ErrorLogTest, PidIsTheChildsAfterFork) {
  ASSERT_TRUE(init("info", path, nullptr));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    reopen();  // workers reopen too, on their own descriptor
    spdlog::info("from worker");
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  spdlog::info("from master");
  std::string text = read_file(path);
  EXPECT_NE(text.find("[" + std::to_string(child) + "] [INFO] from worker\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("[" + std::to_string(getpid()) + "] [INFO] from master\n"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace cppicorn::log
