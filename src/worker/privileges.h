// Dropping root: switch to the configured group and user (setgid, initgroups, setuid).
// Done in each worker after fork, before the app is loaded, as gunicorn does.
#pragma once

#include <string>

namespace cppicorn::worker {

// Empty user and group: nothing to do. Names or numeric ids. False with *error on failure.
// init_groups (--initgroups): the user's supplementary groups; otherwise none.
bool drop_privileges(const std::string& user, const std::string& group, bool init_groups,
                     std::string* error);

}  // namespace cppicorn::worker
