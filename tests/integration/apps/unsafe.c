/* A test-only native app built the way an app against the first ABI-1 header was: its
 * cppicorn_app ends at `handle` (no flags, no thread hooks). It must keep working with one
 * thread per worker, and be refused (exit 4) with more, since it never said its handler
 * may run on several threads at once. */
#include <cppicorn/app.h>
#include <stddef.h>

static int handle(void* context, const cppicorn_host* host, cppicorn_request* req,
                  cppicorn_response* resp) {
  (void)context;
  (void)req;
  static const char body[] = "unsafe\n";
  host->write(resp, body, sizeof body - 1);
  return 0;
}

__attribute__((visibility("default"))) const cppicorn_app app = {
    CPPICORN_ABI_VERSION, offsetof(cppicorn_app, flags), 0, 0, 0, handle, 0, 0, 0};
