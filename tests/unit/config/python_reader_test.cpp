// A Python config's names through the settings table, with a fake reader standing in for the
// Python plugin: gunicorn's spellings, lists, None, hooks, foreign and unknown names, errors
// that name the file, line and key.
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace cppicorn::config {
namespace {

using testing::run;

std::vector<PythonValue> g_values;

std::string fake_reader(const std::string& location, std::vector<PythonValue>* out) {
  if (location.ends_with("broken.py")) return location + ":2: SyntaxError: invalid syntax";
  out->push_back({"__file__", 0, PythonValue::kScalar, {"/etc/app/gunicorn.conf.py"}, "str"});
  out->insert(out->end(), g_values.begin(), g_values.end());
  return "";
}

class PythonReader : public ::testing::Test {
 protected:
  void SetUp() override { set_python_config_reader(fake_reader); }
  void TearDown() override {
    set_python_config_reader(nullptr);
    g_values.clear();
  }
};

TEST_F(PythonReader, WhichLocationsArePython) {
  EXPECT_TRUE(is_python_config("gunicorn.conf.py"));
  EXPECT_TRUE(is_python_config("python:mysite.gunicorn"));
  EXPECT_TRUE(is_python_config("file:/etc/gunicorn"));
  EXPECT_FALSE(is_python_config("site.yaml"));
  EXPECT_FALSE(is_python_config("site.yml"));
  EXPECT_FALSE(is_python_config("site.json"));
  EXPECT_TRUE(is_python_config("gunicorn.conf"));  // gunicorn runs any -c file as Python
  EXPECT_TRUE(is_python_config("/etc/gunicorn/conf"));
}

TEST_F(PythonReader, SettingsWithGunicornSpellings) {
  g_values = {{"workers", 1, PythonValue::kScalar, {"3"}, "int"},
              {"bind", 2, PythonValue::kScalar, {"127.0.0.1:9000"}, "str"},
              {"preload_app", 3, PythonValue::kScalar, {"true"}, "bool"},
              {"accesslog", 4, PythonValue::kScalar, {"-"}, "str"},
              {"forwarded_allow_ips", 5, PythonValue::kList, {"10.0.0.1", "10.0.0.2"}, "list"},
              {"proc_name", 6, PythonValue::kNone, {}, "NoneType"},
              {"post_fork", 7, PythonValue::kHook, {}, "function"},
              {"helper", 8, PythonValue::kOther, {}, "module"},
              {"app", 9, PythonValue::kOther, {}, "Flask"}};
  LoadResult r = run({"-c", "gunicorn.conf.py", "-w", "5", "x:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  EXPECT_EQ(r.settings.workers, 5);  // the command line wins, as in gunicorn
  EXPECT_EQ(r.settings.bind, (std::vector<std::string>{"127.0.0.1:9000"}));
  EXPECT_TRUE(r.settings.preload);
  EXPECT_EQ(r.settings.access_logfile, "-");
  EXPECT_EQ(r.settings.forwarded_allow_ips, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(r.settings.proc_name, "");
  EXPECT_TRUE(r.settings.python_config);
  EXPECT_EQ(r.settings.app, "x:app");
}

TEST_F(PythonReader, ErrorsNameFileLineAndKey) {
  g_values = {{"workers", 4, PythonValue::kScalar, {"many"}, "str"}};
  LoadResult r = run({"-c", "gunicorn.conf.py", "x:app"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_EQ(r.error.rfind("/etc/app/gunicorn.conf.py:4: workers: expected an integer", 0), 0u)
      << r.error;
  g_values = {{"threads", 2, PythonValue::kList, {"1", "2"}, "list"}};
  r = run({"-c", "gunicorn.conf.py", "x:app"});
  EXPECT_EQ(r.error, "/etc/app/gunicorn.conf.py:2: threads: expected an integer, got a list");
  g_values = {{"on_exit", 3, PythonValue::kScalar, {"3"}, "int"}};
  r = run({"-c", "gunicorn.conf.py", "x:app"});
  EXPECT_EQ(r.error, "/etc/app/gunicorn.conf.py:3: on_exit: expected a function, got an int");
  r = run({"-c", "broken.py", "x:app"});
  EXPECT_NE(r.error.find("broken.py:2: SyntaxError: invalid syntax"), std::string::npos);
}

TEST_F(PythonReader, ForeignNamesWarn) {
  g_values = {{"worker_tmp_dir", 5, PythonValue::kScalar, {"/dev/shm"}, "str"}};
  LoadResult r = run({"-c", "gunicorn.conf.py", "x:app"});
  ASSERT_FALSE(r.exit_now) << r.error;
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].rfind("/etc/app/gunicorn.conf.py:5: worker_tmp_dir: ", 0), 0u);
}

TEST_F(PythonReader, WithoutAReaderRefused) {
  set_python_config_reader(nullptr);
  LoadResult r = run({"-c", "gunicorn.conf.py", "x:app"});
  EXPECT_TRUE(r.exit_now);
  EXPECT_NE(r.error.find("needs the Python plugin"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace cppicorn::config
