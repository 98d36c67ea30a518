#include "dm/privileges.h"

#include <grp.h>
#include <unistd.h>

#include <vector>

#include "common/error.h"

namespace xvgpu::dm {

void drop_privileges(const std::optional<std::string>& chroot_dir, const std::optional<RunAs>& runas) {
  // The group database may not exist inside the chroot: read it first.
  std::vector<gid_t> groups;
  if (runas && ::geteuid() == 0) {
    int n = 64;
    groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(runas->user.c_str(), runas->gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<std::size_t>(n));
      ::getgrouplist(runas->user.c_str(), runas->gid, groups.data(), &n);
    }
    groups.resize(static_cast<std::size_t>(n));
  }
  if (chroot_dir) {
    check_errno(::chroot(chroot_dir->c_str()), "chroot to " + *chroot_dir);
    check_errno(::chdir("/"), "chdir to / in the chroot");
  }
  if (runas) {
    if (::geteuid() == 0) {
      check_errno(::setgroups(groups.size(), groups.data()),
                  "setting supplementary groups of " + runas->user);
    }
    check_errno(::setresgid(runas->gid, runas->gid, runas->gid), "setgid to the group of " + runas->user);
    check_errno(::setresuid(runas->uid, runas->uid, runas->uid), "setuid to " + runas->user);
    if (runas->uid != 0 && ::setuid(0) == 0) throw Error("dropping privileges failed: could regain root");
  }
}

}  // namespace xvgpu::dm
