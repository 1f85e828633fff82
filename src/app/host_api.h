// The cppicorn_host function table handed to native apps: C entry points that forward to the
// Exchange being handled. cppicorn_request and cppicorn_response are both that Exchange.
#pragma once

#include <cppicorn/app.h>

#include "app/app.h"

namespace cppicorn::app {

const cppicorn_host* host_api();

inline cppicorn_request* as_request(Exchange& x) { return reinterpret_cast<cppicorn_request*>(&x); }
inline cppicorn_response* as_response(Exchange& x) {
  return reinterpret_cast<cppicorn_response*>(&x);
}

}  // namespace cppicorn::app
