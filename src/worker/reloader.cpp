// Reloader: inotify on the directories of the app's files, for --reload (see reloader.h).
#include "worker/reloader.h"

#include <errno.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace cppicorn::worker {

Reloader::Reloader(event_base* base, const std::vector<std::string>& files, Changed changed)
    : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)), changed_(std::move(changed)) {
  if (!fd_) {
    spdlog::error("--reload: inotify: {}; not watching the app's files", strerror(errno));
    return;
  }
  // A directory, not each file: an editor that saves by renaming a new file over the old one
  // (vim, most IDEs) and a linker that unlinks and recreates its output would leave a watch
  // on the old inode. Only the watched names count (a __pycache__ or an editor's swap file
  // in the same directory does not).
  std::map<std::string, int> by_path;
  for (const std::string& file : files) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::absolute(file, ec).lexically_normal();
    if (ec || !p.has_filename()) continue;
    std::string dir = p.parent_path().string();
    auto it = by_path.find(dir);
    if (it == by_path.end()) {
      int wd = inotify_add_watch(fd_.get(), dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
      if (wd < 0) {
        spdlog::warn("--reload: cannot watch {} (for {}): {}", dir, file, strerror(errno));
        continue;
      }
      it = by_path.emplace(dir, wd).first;
      dirs_[wd].path = dir;
    }
    if (dirs_[it->second].names.insert(p.filename().string()).second) ++files_;
  }
  ev_ = event_new(base, fd_.get(), EV_READ | EV_PERSIST, on_readable, this);
  event_add(ev_, nullptr);
}

Reloader::~Reloader() {
  if (ev_ != nullptr) event_free(ev_);
}

void Reloader::on_readable(evutil_socket_t, short, void* self) {
  static_cast<Reloader*>(self)->drain();
}

void Reloader::drain() {
  alignas(inotify_event) char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) return;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + e->len;
      auto dir = dirs_.find(e->wd);
      if (dir == dirs_.end() || e->len == 0 || fired_) continue;
      std::string name(e->name);
      if (dir->second.names.count(name) == 0) continue;
      fired_ = true;
      changed_(dir->second.path + "/" + name);
    }
  }
}

}  // namespace cppicorn::worker
