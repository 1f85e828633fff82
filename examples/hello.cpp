// The seed tutorial's app and the benchmark app: "Hello, World!" for every request.
// Served as `hello:app`. Both strings are literals, so a request allocates nothing here.
#include <cppicorn/app.hpp>

namespace {

void hello(cppicorn::Request&, cppicorn::Response& res) {
  res.header("Content-Type", "text/plain");
  res.write("Hello, World!\n");
}

}  // namespace

CPPICORN_EXPORT_HANDLER(app, hello, CPPICORN_APP_THREAD_SAFE)
