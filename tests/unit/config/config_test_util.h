// Helpers shared by the config tests: run load() on a vector of arguments, and temporary
// YAML files that clean up after themselves.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "config/settings.h"

namespace cppicorn::config::testing {

// Runs load() as `cppicorn ARGS...` with exactly this environment (nothing inherited).
inline LoadResult run(const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& env = {}) {
  std::vector<const char*> argv{"cppicorn"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return load(static_cast<int>(argv.size()), argv.data(), env);
}

// A YAML file in /tmp holding `text`, removed when the object goes; mkstemps keeps tests
// that run in parallel (ctest -j) from sharing a file.
class TempYaml {
 public:
  explicit TempYaml(const std::string& text) {
    char name[] = "/tmp/cppicorn-config-test-XXXXXX.yaml";
    int fd = mkstemps(name, 5);
    if (fd >= 0) {
      path_ = name;
      FILE* f = fdopen(fd, "w");
      fwrite(text.data(), 1, text.size(), f);
      fclose(f);
    }
  }
  ~TempYaml() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  TempYaml(const TempYaml&) = delete;
  TempYaml& operator=(const TempYaml&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace cppicorn::config::testing
