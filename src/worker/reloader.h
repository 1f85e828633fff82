// Reloader: --reload in a worker (gunicorn's development reload). inotify watches the
// directories of the files the app was loaded from (its .so, or every Python module in
// sys.modules) and of reload_extra_files; when one of those files is written and closed, or
// renamed over (as editors and linkers replace files), the callback runs once, in the loop.
// The worker then asks its master for a new generation, as a HUP would start.
#pragma once

#include <event2/event.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "util/unique_fd.h"

namespace cppicorn::worker {

class Reloader {
 public:
  using Changed = std::function<void(const std::string& path)>;

  // files: absolute, or relative to the current directory. A directory that cannot be
  // watched is logged and skipped. base must outlive the Reloader.
  Reloader(event_base* base, const std::vector<std::string>& files, Changed changed);
  ~Reloader();
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // The inotify descriptor (for ForkGuard), -1 when inotify is not available.
  int fd() const { return fd_.get(); }
  size_t watched_files() const { return files_; }

 private:
  struct Dir {
    std::string path;
    std::set<std::string> names;  // the watched files in it
  };
  static void on_readable(evutil_socket_t, short, void* self);
  void drain();

  UniqueFd fd_;
  std::map<int, Dir> dirs_;  // by watch descriptor
  size_t files_ = 0;
  Changed changed_;
  bool fired_ = false;  // the callback runs once: the master starts one new generation
  event* ev_ = nullptr;
};

}  // namespace cppicorn::worker
