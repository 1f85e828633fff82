// The error log: spdlog's default logger, writing gunicorn-shaped lines
//   [2026-11-22 10:00:00 +0000] [4242] [INFO] Booting worker with pid: 4242
// to a file or stderr. Under journald (JOURNAL_STREAM names our stderr) lines carry a syslog
// priority prefix ("<6>") instead of the timestamp, so `journalctl -p warning` works.
// Code logs with spdlog::info(...) etc.; this module only sets the logger up.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace cppicorn::log {

// Sets up the default logger. path "-" is stderr. Returns false (with *error) if the file
// cannot be opened or the level is unknown.
bool init(const std::string& level, const std::string& path, std::string* error);

// Reopens the log file (USR1, after logrotate moved it). No-op for stderr.
void reopen();

// --capture-output: makes stdout and stderr the log file too, now and after every reopen().
// No-op when the log is stderr. Call after init().
void capture_output();

// Makes the log file owned by uid:gid now and after every reopen(), so that workers running
// as --user/--group can reopen it after the master did (gunicorn chowns its logs likewise).
// Only effective as root; errors are ignored. No-op for stderr.
void set_owner(uid_t uid, gid_t gid);

// Lines written, by level, for statsd's gunicorn.log.*: [0] critical, [1] error, [2] warning,
// [3] exception (an error about a request the app failed: gunicorn logs those with
// log.exception, which its statsd counts apart from log.error). A line --log-level filters out
// is not counted. By default the cells are own_counts(); a worker points them at its
// scoreboard slot so that the master can read them.
inline constexpr int kCountedLevels = 4;
void count_into(std::atomic<uint64_t>* cells);
const std::atomic<uint64_t>* own_counts();

// Flushes buffered lines; call before exit/exec/fork.
void flush();

// True when fd is the stream journald connected us to: JOURNAL_STREAM ("DEV:INODE", from the
// environment) names fd's device and inode. init() asks this about stderr.
bool is_journal_stream(int fd, const char* journal_stream);

}  // namespace cppicorn::log
