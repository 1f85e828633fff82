#include "worker/accept_watch.h"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

#include "worker/fork_guard.h"

namespace cppicorn::worker {
namespace {

// The fds of this process, and which of them are epoll sets.
std::vector<int> open_fds(std::vector<int>* epoll_sets) {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  while (dirent* entry = readdir(dir)) {
    std::string_view name = entry->d_name;
    int fd = -1;
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc{}) continue;
    if (fd == dirfd(dir)) continue;
    fds.push_back(fd);
    char target[64];
    ssize_t n = readlinkat(dirfd(dir), entry->d_name, target, sizeof target);
    if (n > 0 && std::string_view(target, static_cast<size_t>(n)) == "anon_inode:[eventpoll]")
      epoll_sets->push_back(fd);
  }
  closedir(dir);
  return fds;
}

}  // namespace

event_base* AcceptWatch::new_event_base(int* epoll_fd, std::vector<int>* loop_fds) {
  std::vector<int> epoll_before, epoll_after;
  std::vector<int> before = open_fds(&epoll_before);
  event_config* cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  *epoll_fd = -1;
  loop_fds->clear();
  if (base == nullptr) return base;
  auto added = [](const std::vector<int>& was, const std::vector<int>& is) {
    std::vector<int> out;
    for (int fd : is)
      if (std::find(was.begin(), was.end(), fd) == was.end()) out.push_back(fd);
    return out;
  };
  *loop_fds = added(before, open_fds(&epoll_after));
  // "epoll", or "epoll (with changelist)"
  if (!std::string_view(event_base_get_method(base)).starts_with("epoll")) return base;
  std::vector<int> epoll_added = added(epoll_before, epoll_after);
  if (epoll_added.size() == 1) *epoll_fd = epoll_added.front();
  return base;
}

AcceptWatch::AcceptWatch(event_base* base, int epoll_fd, const std::vector<int>& listen_fds,
                         Callback on_ready, void* arg)
    : base_(base), epoll_fd_(epoll_fd), on_ready_(on_ready), arg_(arg) {
  watched_.reserve(listen_fds.size());  // events point at their Watched: no reallocation
  exclusive_ = epoll_fd_ >= 0;
  for (int fd : listen_fds) {
    Watched& w = watched_.emplace_back(Watched{fd, {}, nullptr, this});
    if (exclusive_) w.tag.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!w.tag) exclusive_ = false;
    ForkGuard::add(w.tag.get());
  }
  if (!exclusive_) {
    fall_back();
    return;
  }
  // libevent watches the tags for good; they never become readable themselves.
  for (Watched& w : watched_) {
    w.ev = event_new(base_, w.tag.get(), EV_READ | EV_PERSIST, on_event, &w);
    event_add(w.ev, nullptr);
  }
}

AcceptWatch::~AcceptWatch() {
  enable(false);
  for (Watched& w : watched_) {
    if (w.ev != nullptr) event_free(w.ev);
    ForkGuard::remove(w.tag.get());
  }
}

void AcceptWatch::enable(bool on) {
  if (on == enabled_) return;
  enabled_ = on;
  if (exclusive_) {
    for (Watched& w : watched_) {
      if (!on) {
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, w.listen_fd, nullptr);
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLEXCLUSIVE;
      ev.data.fd = w.tag.get();  // libevent looks events up by this fd: the tag's event runs
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, w.listen_fd, &ev) != 0) {
        spdlog::debug("EPOLLEXCLUSIVE refused ({}); every idle worker wakes for a connection",
                      strerror(errno));
        fall_back();
        break;
      }
    }
  }
  if (!exclusive_)
    for (Watched& w : watched_) on ? event_add(w.ev, nullptr) : event_del(w.ev);
}

void AcceptWatch::fall_back() {
  for (Watched& w : watched_) {
    if (exclusive_) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, w.listen_fd, nullptr);
    if (w.ev != nullptr) event_free(w.ev);
    ForkGuard::remove(w.tag.get());
    w.tag.reset();
    w.ev = event_new(base_, w.listen_fd, EV_READ | EV_PERSIST, on_event, &w);
  }
  exclusive_ = false;
}

void AcceptWatch::on_event(evutil_socket_t, short, void* watched) {
  auto* w = static_cast<Watched*>(watched);
  w->owner->on_ready_(w->listen_fd, w->owner->arg_);
}

}  // namespace cppicorn::worker
