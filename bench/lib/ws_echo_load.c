/* WebSocket echo load for bench/run (the wsecho rows): CONNS connections to ws://HOST:PORT/,
 * one 16-byte text message in flight on each (send, wait for its echo, send again) for
 * SECONDS, on one epoll thread. Prints a WRKJSON line like bench/lib/summary.lua's, with
 * "requests" = echoed messages, so report.py shows messages/s in the req/s column.
 *   ws_echo_load HOST PORT CONNS SECONDS
 * Built by bench/run with cc -O2 on first use. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD "Hello, WebSocket"
#define PLEN 16
#define MAX_SAMPLES (1 << 22)

static int64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

struct conn {
  int fd;
  int got;  /* bytes of the echo frame read so far */
  int64_t sent_at;
};

static int cmp64(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return x < y ? -1 : x > y;
}

static int send_frame(struct conn* c) {
  unsigned char f[2 + 4 + PLEN];
  f[0] = 0x81;
  f[1] = 0x80 | PLEN;
  uint32_t key = (uint32_t)rand();
  memcpy(f + 2, &key, 4);
  for (int i = 0; i < PLEN; ++i) f[6 + i] = (unsigned char)PAYLOAD[i] ^ f[2 + (i & 3)];
  c->sent_at = now_us();
  c->got = 0;
  return send(c->fd, f, sizeof f, MSG_NOSIGNAL) == (ssize_t)sizeof f ? 0 : -1;
}

static int open_conn(const char* host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char req[256];
  int n = snprintf(req, sizeof req,
                   "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   host, port);
  if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) return -1;
  char buf[1024];
  size_t len = 0;
  while (len < sizeof buf - 1) { /* the 101 ends the server's first bytes */
    ssize_t r = recv(fd, buf + len, 1, 0);
    if (r <= 0) return -1;
    len += (size_t)r;
    buf[len] = 0;
    if (len >= 4 && strcmp(buf + len - 4, "\r\n\r\n") == 0) break;
  }
  return strncmp(buf, "HTTP/1.1 101", 12) == 0 ? fd : -1;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: ws_echo_load HOST PORT CONNS SECONDS\n");
    return 2;
  }
  const char* host = argv[1];
  int port = atoi(argv[2]), nconn = atoi(argv[3]);
  double secs = atof(argv[4]);
  struct conn* cs = calloc((size_t)nconn, sizeof *cs);
  int64_t* lat = malloc(sizeof(int64_t) * MAX_SAMPLES);
  int ep = epoll_create1(0);
  long errors = 0, messages = 0, samples = 0;
  int64_t max_lat = 0;
  for (int i = 0; i < nconn; ++i) {
    cs[i].fd = open_conn(host, port);
    if (cs[i].fd < 0) {
      fprintf(stderr, "connection %d: handshake failed\n", i);
      return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
  }
  const int64_t start = now_us(), end = start + (int64_t)(secs * 1e6);
  for (int i = 0; i < nconn; ++i) errors += send_frame(&cs[i]) != 0;
  struct epoll_event evs[256];
  int64_t t = start;
  while (t < end) {
    int n = epoll_wait(ep, evs, 256, 100);
    t = now_us();
    for (int i = 0; i < n; ++i) {
      struct conn* c = evs[i].data.ptr;
      unsigned char buf[512];
      ssize_t r = recv(c->fd, buf, sizeof buf, 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        ++errors;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        continue;
      }
      c->got += (int)r;
      if (c->got < 2 + PLEN) continue;
      if (c->got > 2 + PLEN || buf[0] != 0x81) ++errors;
      int64_t l = t - c->sent_at;
      if (samples < MAX_SAMPLES) lat[samples++] = l;
      if (l > max_lat) max_lat = l;
      ++messages;
      if (t < end && send_frame(c) != 0) ++errors;
    }
  }
  const int64_t dur = now_us() - start;
  qsort(lat, (size_t)samples, sizeof *lat, cmp64);
#define PCT(p) (samples ? lat[(long)((samples - 1) * (p))] : 0)
  printf("Requests/sec: %.2f\n", dur ? messages / (dur / 1e6) : 0.0);
  printf("WRKJSON {\"requests\": %ld, \"duration_us\": %lld, \"bytes\": %ld, \"p50_us\": %lld, "
         "\"p90_us\": %lld, \"p99_us\": %lld, \"lat_max_us\": %lld, \"err_socket\": %ld}\n",
         messages, (long long)dur, messages * (2 + PLEN), (long long)PCT(0.5),
         (long long)PCT(0.9), (long long)PCT(0.99), (long long)max_lat, errors);
  return 0;
}
