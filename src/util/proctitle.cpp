#include "util/proctitle.h"

#include <sys/prctl.h>

#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace cppicorn::proctitle {
namespace {

char* area_begin = nullptr;
size_t area_size = 0;

}  // namespace

void init(int argc, char** argv) {
  if (argc == 0 || argv[0] == nullptr) return;
  // The title area is every contiguous string from argv[0] to the end of environ.
  char* end = argv[0] + std::strlen(argv[0]) + 1;
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == end) end = argv[i] + std::strlen(argv[i]) + 1;
  }
  size_t env_count = 0;
  while (environ[env_count] != nullptr) ++env_count;
  for (size_t i = 0; i < env_count; ++i) {
    if (environ[i] == end) end = environ[i] + std::strlen(environ[i]) + 1;
  }
  // Copy environ elsewhere: its strings are about to be overwritten. These copies live for
  // the whole process on purpose (environ must stay valid).
  // The strings are also listed in `kept`: unsetenv() drops entries from environ in place,
  // and they must stay reachable (for leak checkers) all the same.
  static std::vector<char*>* kept = new std::vector<char*>();
  char** copy = new char*[env_count + 1];
  for (size_t i = 0; i < env_count; ++i) kept->push_back(copy[i] = strdup(environ[i]));
  copy[env_count] = nullptr;
  static char** kept_array = nullptr;  // setenv() may replace environ with an array of its own
  kept_array = copy;
  environ = kept_array;
  // argv strings other than argv[0] are kept readable by the caller only until set().
  area_begin = argv[0];
  area_size = static_cast<size_t>(end - argv[0]);
}

void set(std::string_view title) {
  std::string comm(title.substr(0, 15));
  prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
  if (area_begin == nullptr || area_size < 2) return;
  size_t n = std::min(title.size(), area_size - 1);
  std::memcpy(area_begin, title.data(), n);
  std::memset(area_begin + n, 0, area_size - n);
}

}  // namespace cppicorn::proctitle
