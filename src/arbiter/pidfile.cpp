#include "arbiter/pidfile.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace cppicorn {

bool Pidfile::create(const std::string& path, std::string* error) {
  // Write a temporary file and rename it, so readers never see a partial pid.
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << getpid() << "\n";
    if (!out) {
      *error = "cannot write pidfile " + path + ": " + std::strerror(errno);
      return false;
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot write pidfile " + path + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

Pidfile::~Pidfile() {
  std::ifstream in(path_);
  pid_t pid = 0;
  if (in >> pid && pid == getpid()) unlink(path_.c_str());
}

}  // namespace cppicorn
