/* A test-only native app whose worker_start fails in every worker, deterministically after all
 * of them got there: each blocks SIGTERM (so a master's retire signal cannot pre-empt the
 * failure), appends a line to $SLOWFAIL_BARRIER, waits until the file has $SLOWFAIL_N lines,
 * then returns non-zero (the worker exits 4). Used to check that a reload whose workers all
 * fail is undone once, and later exits of that generation do not stop the master. */
#include <cppicorn/app.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int count_lines(const char* path) {
  char buf[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  int lines = 0;
  for (ssize_t i = 0; i < n; ++i) lines += buf[i] == '\n';
  return lines;
}

static int worker_start(void* context, const cppicorn_host* host) {
  (void)context;
  (void)host;
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, 0);
  const char* path = getenv("SLOWFAIL_BARRIER");
  const char* n = getenv("SLOWFAIL_N");
  if (path == 0 || n == 0) return 1;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd >= 0) {
    (void)!write(fd, "x\n", 2);
    close(fd);
  }
  struct timespec tick = {0, 10 * 1000 * 1000};
  for (int i = 0; i < 1000 && count_lines(path) < atoi(n); ++i) nanosleep(&tick, 0);
  return 1;
}

static int handle(void* context, const cppicorn_host* host, cppicorn_request* req,
                  cppicorn_response* resp) {
  (void)context;
  (void)host;
  (void)req;
  (void)resp;
  return 1;
}

const cppicorn_app app = {
    .abi_version = CPPICORN_ABI_VERSION,
    .size = sizeof(cppicorn_app),
    .context = 0,
    .worker_start = worker_start,
    .worker_stop = 0,
    .handle = handle,
};
