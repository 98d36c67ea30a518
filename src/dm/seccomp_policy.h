// The seccomp allow-list xvgpu-dm installs once set-up is done (after drop_privileges, before
// serving): from then on the process can only do what serving a guest needs - I/O on the
// descriptors it already holds, memory mappings without PROT_EXEC, threads, timers, UNIX
// sockets - and never exec, fork, ptrace, open network sockets, bind/listen, change
// credentials or load kernel objects. The list came from strace of xvgpu-dm serving a guest
// on xensim (guest accesses, INVALIDATE, TIMEOFFSET, every control command) plus what the real
// Xen libraries use on the same paths (ioctl and mmap of /dev/xen/*); docs/security.md.
#pragma once

#include <string>
#include <vector>

namespace xvgpu::dm {

enum class SeccompViolation {
  KillProcess,  // the default: the kernel kills the whole process (SIGSYS, core dump)
  ErrnoAndLog,  // the call fails with EPERM and a line naming the syscall goes to log_fd
  LogOnly,      // allowed, but the kernel audit-logs it (to find what a new platform needs)
};

struct SeccompOptions {
  SeccompViolation on_violation = SeccompViolation::KillProcess;
  // Where ErrnoAndLog reports (written from the SIGSYS handler with write(2), rate-limited).
  int log_fd = 2;
  // The ioctl requests allowed (besides TCGETS); every other request is a violation.
  std::vector<unsigned long> allowed_ioctls;
};

// Installs the filter on every thread of the process (TSYNC) and sets no_new_privs. Throws
// SystemError naming the failing libseccomp step; the process is unchanged on failure.
void install_seccomp_policy(const SeccompOptions& options = {});

// The names of the allowed syscalls (some only with restricted arguments), for docs and tests.
[[nodiscard]] std::vector<std::string> seccomp_allowed_syscalls();

}  // namespace xvgpu::dm
