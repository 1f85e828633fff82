/* A test-only native app that exports `app` with an ABI version the server does not know,
 * `small` whose size ends before `handle`, and `nohandle` whose handle is NULL.
 * cppicorn(3): each is refused with a message naming the ABI, and exit 4. */
#include <cppicorn/app.h>
#include <stddef.h>

static int handle(void* context, const cppicorn_host* host, cppicorn_request* req,
                  cppicorn_response* resp) {
  (void)context;
  (void)req;
  static const char body[] = "should never be served\n";
  host->write(resp, body, sizeof body - 1);
  return 0;
}

const cppicorn_app app = {
    .abi_version = 99,
    .size = sizeof(cppicorn_app),
    .context = 0,
    .worker_start = 0,
    .worker_stop = 0,
    .handle = handle,
};

const cppicorn_app small = {
    .abi_version = CPPICORN_ABI_VERSION,
    .size = offsetof(cppicorn_app, handle),
    .handle = handle,
};

const cppicorn_app nohandle = {
    .abi_version = CPPICORN_ABI_VERSION,
    .size = sizeof(cppicorn_app),
    .handle = 0,
};
