// `cppicorn ctl top`: a live view like uwsgitop. Each frame asks the master for `status` and
// redraws it in place (ANSI: the alternate screen, cursor home, clear), until q, Ctrl-C or
// --iterations frames. The terminal is put back as it was on every way out (RAII), and a
// master that goes away shows as a line in the frame rather than ending the view.
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

#include "control/cli.h"

namespace cppicorn::control {
namespace {

volatile sig_atomic_t g_quit = 0;
void on_quit(int) { g_quit = 1; }

// The terminal in the live view's mode: keys arrive unbuffered and unechoed (ISIG stays, so
// Ctrl-C is SIGINT), the alternate screen holds the frames and the cursor is hidden.
// The destructor restores all of it, and the old SIGINT/SIGTERM handlers.
class Screen {
 public:
  explicit Screen(bool tty) : tty_(tty) {
    struct sigaction sa {};
    sa.sa_handler = on_quit;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      keys_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    if (tty_) write_all("\x1b[?1049h\x1b[?25l");
  }
  ~Screen() {
    if (tty_) write_all("\x1b[?25h\x1b[?1049l");
    if (keys_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  void draw(const std::string& frame) { write_all(tty_ ? "\x1b[H\x1b[2J" + frame : frame); }
  // Waits up to ms for q (true: quit) or a signal; false when the time is up.
  bool wait_for_quit(int ms) {
    timespec until{};
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t end = until.tv_sec * 1000LL + until.tv_nsec / 1000000 + ms;
    while (!g_quit) {
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t left = end - (now.tv_sec * 1000LL + now.tv_nsec / 1000000);
      if (left <= 0) return false;
      pollfd p{STDIN_FILENO, POLLIN, 0};
      int n = poll(&p, keys_ ? 1 : 0, static_cast<int>(left));
      if (n > 0) {
        char c = 0;
        ssize_t got = read(STDIN_FILENO, &c, 1);
        if (got == 0 && !isatty(STDIN_FILENO)) keys_ = false;  // EOF on a pipe: no more keys
        if (got == 1 && (c == 'q' || c == 'Q')) return true;
      }
    }
    return true;
  }

 private:
  static void write_all(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = write(STDOUT_FILENO, s.data() + off, s.size() - off);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  bool tty_;
  bool keys_ = false;
  termios saved_{};
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace

int run_top(const std::string& path, const TopOptions& options) {
  g_quit = 0;
  Screen screen(!options.json && isatty(STDOUT_FILENO));
  bool answered = false;
  for (long frame = 1;; ++frame) {
    Reply r = ask(path, options.json ? "status --json" : "status");
    std::string out;
    if (options.json) {
      out = r.outcome == Reply::kOk ? r.body : "{\"error\":\"" + path + " did not answer\"}\n";
    } else {
      char clock[16];
      time_t now = time(nullptr);
      struct tm tm {};
      localtime_r(&now, &tm);
      strftime(clock, sizeof clock, "%H:%M:%S", &tm);
      char head[160];
      std::snprintf(head, sizeof head, "cppicorn ctl top  %s  every %gs  (q or Ctrl-C quits)\n\n",
                    clock, options.interval);
      out = head + r.body + (isatty(STDOUT_FILENO) ? "" : "\n");
    }
    screen.draw(out);
    answered = r.outcome == Reply::kOk;
    if (options.iterations > 0 && frame >= options.iterations) break;
    if (screen.wait_for_quit(static_cast<int>(options.interval * 1000))) break;
  }
  return answered ? 0 : 1;  // for scripts: did the last frame reach the master?
}

}  // namespace cppicorn::control
