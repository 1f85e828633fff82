/* A test-only native app whose body is the GREETING it was compiled with (-DGREETING="v1"):
 * test_reload rebuilds it in place and waits for the new generation to answer the new one. */
#include <cppicorn/app.h>
#include <stddef.h>

#ifndef GREETING
#define GREETING "unset"
#endif

static int handle(void* context, const cppicorn_host* host, cppicorn_request* req,
                  cppicorn_response* resp) {
  (void)context;
  (void)req;
  static const char body[] = GREETING;
  host->write(resp, body, sizeof body - 1);
  return 0;
}

__attribute__((visibility("default"))) const cppicorn_app app = {
    CPPICORN_ABI_VERSION, offsetof(cppicorn_app, flags), 0, 0, 0, handle, 0, 0, 0};
