/* cppicorn/app.h: the native application ABI, version 1.
 *
 * A native app is a shared object that exports one `const cppicorn_app` under the name given
 * on the command line (`hello:app` loads hello.so and reads its symbol `app`). The server
 * passes a `cppicorn_host` table of functions on every call; the app never links against the
 * server. Both structs carry their version and size, so an app built by another compiler, or
 * against an older header, keeps working: members are only ever appended.
 *
 * Most apps use the C++ layer in <cppicorn/app.hpp> instead of this header directly.
 */
#ifndef CPPICORN_APP_H_
#define CPPICORN_APP_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CPPICORN_ABI_VERSION 1

/* A byte string that is not NUL-terminated. */
typedef struct cppicorn_str {
  const char* data;
  size_t size;
} cppicorn_str;

typedef struct cppicorn_header {
  cppicorn_str name;
  cppicorn_str value;
} cppicorn_header;

typedef struct cppicorn_request cppicorn_request;   /* opaque, owned by the server */
typedef struct cppicorn_response cppicorn_response; /* opaque, owned by the server */

enum cppicorn_log_level {
  CPPICORN_LOG_DEBUG = 0,
  CPPICORN_LOG_INFO = 1,
  CPPICORN_LOG_WARNING = 2,
  CPPICORN_LOG_ERROR = 3,
  CPPICORN_LOG_CRITICAL = 4
};

/* What the server offers an app. Strings stay valid until the handler returns.
 *
 * Threads: the request and response functions act on the request they are given and may be
 * called only from the thread running the handler for it, while it runs (with --threads,
 * each of a worker's threads runs its own requests; a request never moves between threads
 * during the call). log and server_version may be called from any thread at any time. */
typedef struct cppicorn_host {
  uint32_t abi_version; /* CPPICORN_ABI_VERSION of the server */
  uint32_t size;        /* sizeof(cppicorn_host) in the server: later members may be absent */

  /* The request line. path and query split the raw target at the first '?'; both are still
   * percent-encoded. version_minor is 0 or 1 (HTTP/1.0, HTTP/1.1). */
  cppicorn_str (*method)(const cppicorn_request* req);
  cppicorn_str (*target)(const cppicorn_request* req);
  cppicorn_str (*path)(const cppicorn_request* req);
  cppicorn_str (*query)(const cppicorn_request* req);
  int (*version_minor)(const cppicorn_request* req);

  /* Header fields in the order received. find_header is case-insensitive and returns the
   * first match; its result has data == NULL when the field is absent. */
  size_t (*header_count)(const cppicorn_request* req);
  cppicorn_header (*header_at)(const cppicorn_request* req, size_t index);
  cppicorn_str (*find_header)(const cppicorn_request* req, cppicorn_str name);

  /* The client: address (an IP, or empty for a unix socket), port, and scheme ("http" or
   * "https"), after trusted proxy headers were applied. */
  cppicorn_str (*remote_addr)(const cppicorn_request* req);
  int (*remote_port)(const cppicorn_request* req);
  cppicorn_str (*url_scheme)(const cppicorn_request* req);

  /* The body. content_length is -1 when the body is chunked. read_body copies up to len
   * bytes and returns the count, 0 at the end of the body, or -1 when the body cannot be
   * read (client gone, timeout, malformed chunk); the server then closes the connection.
   * The first read answers "Expect: 100-continue". */
  int64_t (*content_length)(const cppicorn_request* req);
  int64_t (*read_body)(cppicorn_request* req, void* buf, size_t len);

  /* The response. Status defaults to 200. Headers may be added until the body starts;
   * Content-Length, Transfer-Encoding, Connection and Date are the server's to set. */
  void (*set_status)(cppicorn_response* resp, int status);
  void (*add_header)(cppicorn_response* resp, cppicorn_str name, cppicorn_str value);
  /* Appends to the buffered body, sent with Content-Length after the handler returns. */
  void (*write)(cppicorn_response* resp, const void* data, size_t len);
  /* Sends the head now (if not yet sent), then data as one chunk (close-delimited on
   * HTTP/1.0). Blocks until written. Returns 0, or -1 when the client is gone. */
  int (*stream)(cppicorn_response* resp, const void* data, size_t len);
  /* Makes the body len bytes of the open file fd from offset, sent with sendfile after the
   * handler returns. The server owns fd from now on and closes it. Returns 0 or -1. */
  int (*send_file)(cppicorn_response* resp, int fd, int64_t offset, int64_t len);

  /* Writes one line to the error log. */
  void (*log)(int level, cppicorn_str message);

  /* The server's version, e.g. "0.1.0". */
  cppicorn_str (*server_version)(void);

  /* The TLS the client connected with, by nginx's and Apache's environ names: "HTTPS" ("on"),
   * "SSL_PROTOCOL" ("TLSv1.3"), "SSL_CIPHER", "SSL_CLIENT_VERIFY" ("SUCCESS" or "NONE"), and
   * for a verified client certificate "SSL_CLIENT_S_DN" and "SSL_CLIENT_I_DN" (subject and
   * issuer, RFC 2253). Empty (size 0) when the connection is not TLS or the name is unknown.
   * Present when size > offsetof(cppicorn_host, tls_var). */
  cppicorn_str (*tls_var)(const cppicorn_request* req, cppicorn_str name);
  /* Since cppicorn 0.2. The status line's reason phrase ("299 Custom Reason"), until the head
   * is sent; without it the server uses the IANA registry's phrase ("Unknown" for codes it
   * does not list). Returns 0, or -1 (and nothing changes) when reason holds CR, LF or
   * another control character. An empty reason restores the registry's. */
  int (*set_reason)(cppicorn_response* resp, cppicorn_str reason);
  /* New members are appended here; check `size` before using one. */
} cppicorn_host;

/* What an app exports. */
typedef struct cppicorn_app {
  uint32_t abi_version; /* CPPICORN_ABI_VERSION the app was built against */
  uint32_t size;        /* sizeof(cppicorn_app) the app was built with */
  void* context;        /* handed back on every call */
  /* Optional. Runs once in each worker after fork, before it serves: open per-process
   * resources here. Non-zero means the app cannot run; the server stops with exit code 4. */
  int (*worker_start)(void* context, const cppicorn_host* host);
  /* Optional. Runs when a worker stops gracefully. */
  void (*worker_stop)(void* context);
  /* Handles one request. Returns 0; non-zero means it failed, and the server answers 500
   * when nothing was sent yet, or closes the connection. */
  int (*handle)(void* context, const cppicorn_host* host, cppicorn_request* req,
                cppicorn_response* resp);

  /* Appended members: the server reads them only when `size` covers them, so an app built
   * against an older header has no flags and no thread hooks. */

  /* CPPICORN_APP_* bits. */
  uint32_t flags;
  /* Optional. Runs on each of a worker's threads (--threads above 1) before it serves its
   * first request, after worker_start: open per-thread resources here (a database
   * connection per thread). Non-zero means the app cannot run; the server stops with exit
   * code 4. */
  int (*thread_start)(void* context, const cppicorn_host* host);
  /* Optional. Runs on each of those threads when the worker stops, before worker_stop. */
  void (*thread_stop)(void* context);
} cppicorn_app;

/* `handle` may run on several threads at once (for different requests). Without this flag a
 * server started with more than one thread per worker refuses to start the app. */
#define CPPICORN_APP_THREAD_SAFE 0x1u

#ifdef __cplusplus
}
#endif

#endif /* CPPICORN_APP_H_ */
