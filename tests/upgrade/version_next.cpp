// A second build for upgrade tests: the same server, reporting another version, so a test
// can tell which binary answered after USR2.
#include "version/version.h"

namespace cppicorn {

const char* version() { return CPPICORN_VERSION "-next"; }

}  // namespace cppicorn
