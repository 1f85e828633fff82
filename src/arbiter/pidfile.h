// Pidfile: writes our pid to a file and removes it when destroyed, if it still names us.
#pragma once

#include <string>

namespace cppicorn {

class Pidfile {
 public:
  // Writes the file; false with *error when it cannot.
  static bool create(const std::string& path, std::string* error);
  explicit Pidfile(std::string path) : path_(std::move(path)) {}
  ~Pidfile();
  Pidfile(const Pidfile&) = delete;
  Pidfile& operator=(const Pidfile&) = delete;

 private:
  std::string path_;
};

}  // namespace cppicorn
