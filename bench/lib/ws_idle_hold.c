/* Idle WebSocket holder for bench/run (the wsidle rows): opens CONNS WebSockets to
 * ws://HOST:PORT/ (the handshake done, then nothing sent), prints one line
 *   OPEN <opened> <failed> <milliseconds it took>
 * once every handshake has ended either way, then keeps them all open and idle until it
 * is killed (bench/run sends SIGTERM after reading the server's memory), answering the
 * server's pings (uvicorn pings every 20 s and drops a connection that does not pong).
 * On one epoll thread, at most WINDOW handshakes in flight, so the servers' accept
 * backlogs (2048) never overflow. The CONNS descriptors need `ulimit -n` above CONNS.
 *   ws_idle_hold HOST PORT CONNS
 * Built by bench/run with cc -O2 on first use, as ws_echo_load.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 256
#define HANDSHAKE_TIMEOUT_MS 30000

enum { CONNECTING, AWAIT_101, OPEN, DEAD };

struct conn {
  int fd, state, len;
  char head[512]; /* the server's handshake response, up to its blank line */
};

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static char request[256];
static int request_len;

static int start_conn(int ep, struct conn* c, const struct sockaddr_in* a) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) return -1;
  c->state = CONNECTING;
  c->len = 0;
  if (connect(c->fd, (const struct sockaddr*)a, sizeof *a) != 0 && errno != EINPROGRESS) return -1;
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
  return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* A ping from the server (opcode 9, unmasked, payload < 126 bytes): the same payload back
 * as a masked pong. Anything else an idle client receives is ignored. */
static void answer_pings(struct conn* c) {
  unsigned char buf[512];
  ssize_t r;
  while ((r = recv(c->fd, buf, sizeof buf, 0)) > 0) {
    if (r >= 2 && (buf[0] & 0x0f) == 9 && (buf[1] & 0x7f) < 126 && r >= 2 + (buf[1] & 0x7f)) {
      int n = buf[1] & 0x7f;
      unsigned char pong[2 + 4 + 125] = {0x8a, (unsigned char)(0x80 | n), 1, 2, 3, 4};
      for (int i = 0; i < n; ++i) pong[6 + i] = buf[2 + i] ^ pong[2 + (i & 3)];
      (void)send(c->fd, pong, (size_t)(6 + n), MSG_NOSIGNAL);
    }
  }
  if (r == 0) { /* the server closed it: no longer counted as open */
    c->state = DEAD;
    close(c->fd);
    fprintf(stderr, "a WebSocket was closed by the server\n");
  }
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: ws_idle_hold HOST PORT CONNS\n");
    return 2;
  }
  int port = atoi(argv[2]), nconn = atoi(argv[3]);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || nconn <= 0) return 2;
  request_len = snprintf(request, sizeof request,
                         "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n", argv[1], port);
  struct conn* cs = calloc((size_t)nconn, sizeof *cs);
  int ep = epoll_create1(0);
  int started = 0, pending = 0, opened = 0, failed = 0;
  const int64_t t0 = now_ms();
  struct epoll_event evs[256];
  while (opened + failed < nconn) {
    while (pending < WINDOW && started < nconn) {
      struct conn* c = &cs[started++];
      if (start_conn(ep, c, &a) != 0) {
        fprintf(stderr, "connection %d: %s\n", started - 1, strerror(errno));
        if (c->fd >= 0) close(c->fd);
        c->state = DEAD;
        ++failed;
      } else {
        ++pending;
      }
    }
    if (now_ms() - t0 > HANDSHAKE_TIMEOUT_MS * (1 + nconn / 1000)) break;
    int n = epoll_wait(ep, evs, 256, 1000);
    for (int i = 0; i < n; ++i) {
      struct conn* c = evs[i].data.ptr;
      int ok = 1;
      if (c->state == CONNECTING) { /* connected (or refused): send the upgrade request */
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        ok = !err && send(c->fd, request, (size_t)request_len, MSG_NOSIGNAL) == request_len;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        ok = ok && epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0;
        c->state = AWAIT_101;
      } else if (c->state == AWAIT_101) {
        /* Byte by byte up to the blank line: the server may send nothing more until a
         * ping, so nothing of a frame is ever swallowed with the head. */
        ssize_t r = 1;
        while (c->len < (int)sizeof c->head - 1 && (r = recv(c->fd, c->head + c->len, 1, 0)) == 1) {
          c->head[++c->len] = 0;
          if (c->len >= 4 && memcmp(c->head + c->len - 4, "\r\n\r\n", 4) == 0) break;
        }
        int done = c->len >= 4 && memcmp(c->head + c->len - 4, "\r\n\r\n", 4) == 0;
        if (done && strncmp(c->head, "HTTP/1.1 101", 12) == 0) {
          c->state = OPEN;
          ++opened;
          --pending;
          continue;
        }
        ok = !done && c->len < (int)sizeof c->head - 1 && (r != 0 || errno == EAGAIN);
        if (!ok && failed < 5) fprintf(stderr, "handshake failed: %.40s\n", c->head);
      } else if (c->state == OPEN) {
        answer_pings(c);
        continue;
      }
      if (!ok) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->state = DEAD;
        ++failed;
        --pending;
      }
    }
  }
  printf("OPEN %d %d %lld\n", opened, nconn - opened, (long long)(now_ms() - t0));
  fflush(stdout);
  /* Hold: idle until killed, only answering pings. */
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; ++i) {
      struct conn* c = evs[i].data.ptr;
      if (c->state == OPEN) answer_pings(c);
    }
  }
}
