// Process titles as ps shows them ("cppicorn: master [hello:app]"), set by rewriting the
// memory argv occupies (as nginx and setproctitle do) and prctl(PR_SET_NAME) for top/comm.
#pragma once

#include <string_view>

namespace cppicorn::proctitle {

// Call once, early in main, before anything reads environ: moves environ out of the way so
// the argv+environ area can hold a longer title.
void init(int argc, char** argv);

// Sets the title; truncated to the space argv and environ had.
void set(std::string_view title);

}  // namespace cppicorn::proctitle
