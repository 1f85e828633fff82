// Notifier: the arbiter's messages to systemd (sd_notify), a no-op outside systemd.
// It also knows the watchdog interval systemd asked for (WATCHDOG_USEC), if any.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string_view>

namespace cppicorn::systemd {

class Notifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID of this process.
  Notifier();

  bool enabled() const { return enabled_; }
  // Half the watchdog timeout: how often WATCHDOG=1 must be sent. nullopt when not asked.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_interval_; }

  void ready(std::string_view status) const;
  void reloading(std::string_view status) const;
  void stopping(std::string_view status) const;
  void status(std::string_view status) const;
  void watchdog() const;
  void main_pid(pid_t pid) const;
  void extend_timeout(std::chrono::microseconds usec) const;

  // Workers must not speak for the service.
  static void forget_in_child();

 private:
  void send(std::string_view message) const;
  bool enabled_ = false;
  std::optional<std::chrono::microseconds> watchdog_interval_;
};

}  // namespace cppicorn::systemd
