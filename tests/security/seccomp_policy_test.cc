// The serving-phase seccomp policy, installed in forked children (a filter cannot be removed):
// what serving needs still works, and exec, fork, ptrace, network sockets, executable mappings
// and credential changes are refused - by killing the process (the default) or with EPERM and a
// log line naming the syscall.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "dm/seccomp_policy.h"
#include "ioreq/xen_ioctls.h"

namespace xvgpu::dm {
namespace {

// Runs body in a child after installing the policy; returns the child's wait status. The body
// returns the exit code (0 = all expectations held in the child).
int in_child(const SeccompOptions& options, const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    try {
      install_seccomp_policy(options);
    } catch (...) {
      ::_exit(100);
    }
    ::_exit(body());
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

struct Logged {
  int status = -1;
  std::string log;  // everything the policy wrote to its log fd
};

// in_child() with violations refused with EPERM and logged to a pipe the test reads.
Logged in_child_logged(const std::function<int()>& body) {
  int log[2];
  if (::pipe2(log, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return {};
  }
  SeccompOptions o;
  o.on_violation = SeccompViolation::ErrnoAndLog;
  o.log_fd = log[1];
  Logged out;
  out.status = in_child(o, body);
  ::close(log[1]);
  char buf[512];
  for (ssize_t n; (n = ::read(log[0], buf, sizeof buf)) > 0;) out.log.append(buf, static_cast<size_t>(n));
  ::close(log[0]);
  return out;
}

bool exited_ok(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
bool killed_by_sigsys(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

TEST(SeccompPolicy, ServingSyscallsStillWork) {
  const int status = in_child({}, [] {
    if (::getpid() <= 0) return 1;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return 2;
    if (::write(fds[1], "x", 1) != 1) return 3;
    char c = 0;
    if (::read(fds[0], &c, 1) != 1 || c != 'x') return 4;
    void* p = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 5;
    static_cast<char*>(p)[4096] = 1;
    if (::munmap(p, 8192) != 0) return 6;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 7;
    const int u = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (u < 0) return 8;
    const int f = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (f < 0) return 9;
    // A thread: glibc's clone3 gets ENOSYS and falls back to clone(CLONE_THREAD).
    int seen = 0;
    std::thread t([&] { seen = 1; });
    t.join();
    if (seen != 1) return 10;
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << "status " << status;
}

TEST(SeccompPolicy, ExecveKillsTheProcess) {
  const int status = in_child({}, [] {
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    ::execve("/bin/true", argv, nullptr);
    return 0;  // reached only if execve was allowed and failed
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << "status " << status;
}

TEST(SeccompPolicy, PtraceKillsTheProcess) {
  const int status = in_child({}, [] {
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    return 0;
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << "status " << status;
}

TEST(SeccompPolicy, NetworkSocketKillsTheProcess) {
  const int status = in_child({}, [] {
    ::socket(AF_INET, SOCK_STREAM, 0);
    return 0;
  });
  EXPECT_TRUE(killed_by_sigsys(status)) << "status " << status;
}

TEST(SeccompPolicy, ErrnoModeRefusesWithEpermAndLogsTheSyscall) {
  const auto [status, text] = in_child_logged([] {
    errno = 0;
    if (::socket(AF_INET6, SOCK_DGRAM, 0) != -1 || errno != EPERM) return 1;
    errno = 0;
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != -1 || errno != EPERM) return 2;
    errno = 0;
    if (::setuid(0) != -1 || errno != EPERM) return 3;
    // No new executable memory.
    errno = 0;
    void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED || errno != EPERM) return 4;
    void* q = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED) return 5;
    errno = 0;
    if (::mprotect(q, 4096, PROT_READ | PROT_EXEC) != -1 || errno != EPERM) return 6;
    // A new process (clone without CLONE_THREAD), and binding a new listening socket.
    errno = 0;
    if (::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) != -1 || errno != EPERM) return 7;
    const int u = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (u < 0 || ::listen(u, 1) != -1 || errno != EPERM) return 8;
    return 0;
  });
  EXPECT_TRUE(exited_ok(status)) << "status " << status << " (exit code = failed step)";
  EXPECT_NE(text.find("seccomp refused syscall " + std::to_string(SYS_socket) + " "), std::string::npos)
      << text;
  EXPECT_NE(text.find("seccomp refused syscall " + std::to_string(SYS_ptrace) + " "), std::string::npos)
      << text;
}

TEST(SeccompPolicy, OnlyTheNamedIoctlsPass) {
  SeccompOptions o;
  o.allowed_ioctls = {FIONREAD};
  const int allowed = in_child(o, [] {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return 1;
    int n = -1;
    if (::ioctl(fds[0], FIONREAD, &n) != 0 || n != 0) return 2;  // named: allowed
    termios t{};
    errno = 0;
    if (::ioctl(fds[0], TCGETS, &t) != -1 || errno != ENOTTY) return 3;  // isatty(): allowed, not a tty
    return 0;
  });
  EXPECT_TRUE(exited_ok(allowed)) << "status " << allowed << " (exit code = failed step)";
  const int forbidden = in_child(o, [] {
    int on = 1;
    ::ioctl(0, FIONBIO, &on);  // any other request: killed
    return 0;
  });
  EXPECT_TRUE(killed_by_sigsys(forbidden)) << "status " << forbidden;
  // The request is compared as the kernel sees it (32 bits): high bits do not smuggle one in.
  const int high = in_child(o, [] {
    int n = 0;
    ::syscall(SYS_ioctl, 0, 0x100000000ul | FIONBIO, &n);
    return 0;
  });
  EXPECT_TRUE(killed_by_sigsys(high)) << "status " << high;
}

TEST(SeccompPolicy, ErrnoModeRefusesAForbiddenIoctlWithALogLine) {
  const auto [status, text] = in_child_logged([] {
    winsize ws{};
    errno = 0;
    return ::ioctl(1, TIOCGWINSZ, &ws) == -1 && errno == EPERM ? 0 : 1;
  });
  EXPECT_TRUE(exited_ok(status)) << "status " << status;
  EXPECT_FALSE(text.empty());
  EXPECT_NE(text.find("seccomp refused syscall " + std::to_string(SYS_ioctl) + " "), std::string::npos)
      << text;
}

TEST(SeccompPolicy, TheXenServingIoctlsAreTheLinuxDriversRequests) {
  // Linux uapi xen/privcmd.h and xen/evtchn.h: _IOC(_IOC_NONE, 'P'|'E', nr, size).
  std::map<std::string, unsigned long> got;
  for (const auto& i : ioreq::xen_serving_ioctls()) got[i.name] = i.request;
  EXPECT_EQ(got["IOCTL_PRIVCMD_HYPERCALL"], _IOC(_IOC_NONE, 'P', 0, 5 * 8 + 8));
  EXPECT_EQ(got["IOCTL_PRIVCMD_DM_OP"], _IOC(_IOC_NONE, 'P', 5, 16));
  EXPECT_EQ(got["IOCTL_PRIVCMD_MMAPBATCH_V2"], _IOC(_IOC_NONE, 'P', 4, 32));
  EXPECT_EQ(got["IOCTL_PRIVCMD_MMAP_RESOURCE"], _IOC(_IOC_NONE, 'P', 7, 32));
  EXPECT_EQ(got["IOCTL_EVTCHN_NOTIFY"], _IOC(_IOC_NONE, 'E', 4, 4));
  EXPECT_EQ(got["IOCTL_EVTCHN_UNBIND"], _IOC(_IOC_NONE, 'E', 3, 4));
  // Set-up only: binding ports and restricting handles are not allowed once serving.
  EXPECT_EQ(got.count("IOCTL_PRIVCMD_RESTRICT"), 0u);
  EXPECT_EQ(got.count("IOCTL_EVTCHN_BIND_INTERDOMAIN"), 0u);
  EXPECT_EQ(got.count("IOCTL_PRIVCMD_MMAP"), 0u);  // not used by the 4.17 libraries
  EXPECT_EQ(got.size(), 7u);
}

TEST(SeccompPolicy, AllowListNamesTheRestrictedCalls) {
  const auto names = seccomp_allowed_syscalls();
  for (const char* forbidden : {"execve", "execveat", "fork", "vfork", "ptrace", "bind", "listen", "setuid",
                                "chroot", "mount", "bpf", "process_vm_writev", "init_module"}) {
    EXPECT_EQ(std::find(names.begin(), names.end(), forbidden), names.end()) << forbidden;
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "ioctl"), names.end());
}

}  // namespace
}  // namespace xvgpu::dm
