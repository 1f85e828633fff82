#include "worker/privileges.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cppicorn::worker {
namespace {

bool numeric(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

bool drop_privileges(const std::string& user, const std::string& group, bool init_groups,
                     std::string* error) {
  if (user.empty() && group.empty()) return true;
  uid_t uid = getuid();
  gid_t gid = getgid();
  std::string user_name;
  if (!user.empty()) {
    passwd* pw = numeric(user) ? getpwuid(static_cast<uid_t>(std::atoi(user.c_str())))
                               : getpwnam(user.c_str());
    if (pw == nullptr && !numeric(user)) {
      *error = fmt::format("no such user '{}'", user);
      return false;
    }
    uid = pw ? pw->pw_uid : static_cast<uid_t>(std::atoi(user.c_str()));
    if (pw) {
      gid = pw->pw_gid;
      user_name = pw->pw_name;
    }
  }
  if (!group.empty()) {
    struct group* gr = numeric(group) ? getgrgid(static_cast<gid_t>(std::atoi(group.c_str())))
                                      : getgrnam(group.c_str());
    if (gr == nullptr && !numeric(group)) {
      *error = fmt::format("no such group '{}'", group);
      return false;
    }
    gid = gr ? gr->gr_gid : static_cast<gid_t>(std::atoi(group.c_str()));
  }
  if (setgid(gid) != 0) {
    *error = fmt::format("setgid({}): {}", gid, std::strerror(errno));
    return false;
  }
  // As gunicorn: supplementary groups only with --initgroups; otherwise none are kept, so a
  // worker never holds root's groups.
  int rc = user_name.empty() || !init_groups ? setgroups(0, nullptr)
                                             : initgroups(user_name.c_str(), gid);
  if (rc != 0 && getuid() == 0) {
    *error = fmt::format("setting supplementary groups: {}", std::strerror(errno));
    return false;
  }
  if (!user.empty() && setuid(uid) != 0) {
    *error = fmt::format("setuid({}): {}", uid, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace cppicorn::worker
