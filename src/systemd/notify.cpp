#include "systemd/notify.h"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <string>

namespace cppicorn::systemd {

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
  }
}

void Notifier::send(std::string_view message) const {
  if (!enabled_) return;
  std::string text(message);
  sd_notify(0, text.c_str());
}

void Notifier::ready(std::string_view status) const {
  send(fmt::format("READY=1\nSTATUS={}", status));
}
void Notifier::reloading(std::string_view status) const {
  send(fmt::format("RELOADING=1\nSTATUS={}", status));
}
void Notifier::stopping(std::string_view status) const {
  send(fmt::format("STOPPING=1\nSTATUS={}", status));
}
void Notifier::status(std::string_view status) const { send(fmt::format("STATUS={}", status)); }
void Notifier::watchdog() const { send("WATCHDOG=1"); }
void Notifier::main_pid(pid_t pid) const { send(fmt::format("MAINPID={}", pid)); }
void Notifier::extend_timeout(std::chrono::microseconds usec) const {
  send(fmt::format("EXTEND_TIMEOUT_USEC={}", usec.count()));
}

void Notifier::forget_in_child() {
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

}  // namespace cppicorn::systemd
