// The version cppicorn reports (--version, logs, the app API). One definition, in its own
// library, so a test build can link a binary that differs only in the version it reports.
#pragma once

namespace cppicorn {

const char* version();

}  // namespace cppicorn
