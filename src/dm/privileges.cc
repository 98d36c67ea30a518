#include "dm/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

// Empties the capability bounding set (as root, before changing uid): even a process that
// somehow became uid 0 again, or executed a set-uid program, could not get a capability back.
void drop_bounding_set() {
  for (unsigned long cap = 0;; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;  // past the kernel's last capability
    check_errno(::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "dropping capability " + std::to_string(cap));
  }
  check_errno(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities");
  check_errno(::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "clearing keep-capabilities");
}

bool holds_any_capability() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return true;  // cannot tell: assume the worst
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) return true;
  }
  return false;
}

}  // namespace

void drop_privileges(const std::optional<std::string>& chroot_dir, const std::optional<RunAs>& runas) {
  // The group database may not exist inside the chroot: read it first.
  std::vector<gid_t> groups;
  const bool root = ::geteuid() == 0;
  if (runas && root) {
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
    if (root && runas->uid != 0) drop_bounding_set();
    if (root) {
      check_errno(::setgroups(groups.size(), groups.data()),
                  "setting supplementary groups of " + runas->user);
    }
    check_errno(::setresgid(runas->gid, runas->gid, runas->gid), "setgid to the group of " + runas->user);
    check_errno(::setresuid(runas->uid, runas->uid, runas->uid), "setuid to " + runas->user);
    if (runas->uid != 0) {
      // Verify, do not trust: no way back to root and nothing left of root's capabilities.
      if (::setuid(0) == 0 || ::setresuid(static_cast<uid_t>(-1), 0, static_cast<uid_t>(-1)) == 0 ||
          (runas->gid != 0 && ::setgid(0) == 0)) {
        throw Error("dropping privileges failed: could regain root");
      }
      if (holds_any_capability()) throw Error("dropping privileges failed: capabilities remain after setuid");
    }
  }
  // Nothing this process runs later can gain privileges (set-uid files, file capabilities).
  check_errno(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs");
}

}  // namespace xvgpu::dm
