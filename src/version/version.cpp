#include "version/version.h"

namespace cppicorn {

const char* version() { return CPPICORN_VERSION; }

}  // namespace cppicorn
