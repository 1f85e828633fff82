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

namespace cppicorn::worker {
namespace {

// The fds of this process that are epoll sets.
std::vector<int> epoll_fds() {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  while (dirent* entry = readdir(dir)) {
    std::string_view name = entry->d_name;
    int fd = -1;
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc{}) continue;
    char target[64];
    ssize_t n = readlinkat(dirfd(dir), entry->d_name, target, sizeof target);
    if (n > 0 && std::string_view(target, static_cast<size_t>(n)) == "anon_inode:[eventpoll]")
      fds.push_back(fd);
  }
  closedir(dir);
  return fds;
}

}  // namespace

event_base* AcceptWatch::new_event_base(int* epoll_fd) {
  std::vector<int> before = epoll_fds();
  event_config* cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  *epoll_fd = -1;
  // "epoll", or "epoll (with changelist)"
  if (base == nullptr || !std::string_view(event_base_get_method(base)).starts_with("epoll"))
    return base;
  std::vector<int> added;
  for (int fd : epoll_fds())
    if (std::find(before.begin(), before.end(), fd) == before.end()) added.push_back(fd);
  if (added.size() == 1) *epoll_fd = added.front();
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
  for (Watched& w : watched_)
    if (w.ev != nullptr) event_free(w.ev);
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
