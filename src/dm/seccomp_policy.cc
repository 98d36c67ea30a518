#include "dm/seccomp_policy.h"

#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

// Plain allows. Unknown names (other architectures) are skipped.
constexpr const char* kAllowed[] = {
    // I/O on descriptors already open, and the files host-wide accounting keeps under /run/xvgpu.
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "openat", "newfstatat", "fstat",
    "statx", "lseek", "fcntl", "flock", "getdents64", "unlink", "unlinkat", "renameat", "rename", "dup",
    "dup3", "pipe2", "pipe",
    // The saved device state (save-state) reaches the disk before the control reply.
    "fsync",
    // The log file kept within --log-max-size in place (src/dm/dm_logging.h), on a descriptor opened at
    // set-up.
    "ftruncate",
    // Memory (mmap/mprotect only without PROT_EXEC: see below). mlock: libxencall's hypercall
    // buffers when /dev/xen/hypercall is missing (bounded by RLIMIT_MEMLOCK).
    "munmap", "mremap", "madvise", "brk", "membarrier", "mlock", "munlock",
    // Waiting, threads, time.
    "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_ctl", "epoll_create1",
    "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd4", "futex",
    "set_robust_list", "get_robust_list", "rseq", "sched_yield", "sched_getaffinity", "nanosleep",
    "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time", "restart_syscall",
    // Identity and randomness (read-only).
    "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getrandom", "uname", "getcwd",
    // Signals and exit.
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "exit", "exit_group",
    // The control socket's connections and the Xen libraries' UNIX sockets (xenstored, xensim).
    "accept", "accept4", "connect", "recvmsg", "sendmsg", "recvfrom", "sendto", "recvmmsg", "sendmmsg",
    "shutdown", "getsockopt", "getsockname", "getpeername",
    // The VNC consoles' client connections (TCP_NODELAY on each new client), and libgcrypt's
    // first use for a WebSocket handshake (SHA-1), which checks a FIPS file with access().
    "setsockopt", "access", "faccessat", "faccessat2"};

int resolve(const char* name) {
  return seccomp_syscall_resolve_name(name);
}

void check(int rc, const char* what) {
  if (rc < 0) throw SystemError(-rc, std::string("seccomp: ") + what);
}

// One argument comparison (the SCMP_A* macros are C compound literals, not valid C++).
scmp_arg_cmp arg(unsigned index, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
  return scmp_arg_cmp{index, op, a, b};
}

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

std::atomic<int> g_log_fd{2};
std::atomic<uint64_t> g_violations{0};
std::atomic<bool> g_refusing_filter_loaded{false};  // a filter that refuses (not LogOnly) is in force

// Async-signal-safe: formats "xvgpu-dm: seccomp refused syscall N (EPERM)\n" by hand.
void append_number(char*& p, uint64_t v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n != 0) *p++ = digits[--n];
}

void on_sigsys(int, siginfo_t* info, void* uctx) {
  const int saved = errno;
  const uint64_t n = g_violations.fetch_add(1) + 1;
  // Rate-limited: the first 16 reports, then one every 1024.
  if (n <= 16 || n % 1024 == 0) {
    char line[128];
    char* p = line;
    const char prefix[] = "xvgpu-dm: seccomp refused syscall ";
    std::memcpy(p, prefix, sizeof prefix - 1);
    p += sizeof prefix - 1;
    append_number(p, static_cast<uint64_t>(info->si_syscall));
    const char mid[] = " with EPERM (violation ";
    std::memcpy(p, mid, sizeof mid - 1);
    p += sizeof mid - 1;
    append_number(p, n);
    *p++ = ')';
    *p++ = '\n';
    [[maybe_unused]] const ssize_t w = ::write(g_log_fd.load(), line, static_cast<size_t>(p - line));
  }
#if defined(__x86_64__)
  static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
  static_cast<ucontext_t*>(uctx)->uc_mcontext.regs[0] = static_cast<uint64_t>(-EPERM);
#else
  (void)uctx;
#endif
  errno = saved;
}

uint32_t default_action(SeccompViolation v) {
  switch (v) {
    case SeccompViolation::ErrnoAndLog:
      return SCMP_ACT_TRAP;
    case SeccompViolation::LogOnly:
      return SCMP_ACT_LOG;
    case SeccompViolation::KillProcess:
      break;
  }
  return SCMP_ACT_KILL_PROCESS;
}

}  // namespace

std::vector<std::string> seccomp_allowed_syscalls() {
  std::vector<std::string> out(std::begin(kAllowed), std::end(kAllowed));
  for (const char* s : {"mmap", "mprotect", "clone", "socket", "socketpair", "tgkill", "prlimit64", "ioctl"})
    out.emplace_back(s);
  return out;
}

void install_seccomp_policy(const SeccompOptions& options) {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(default_action(options.on_violation)));
  if (!ctx) throw Error("seccomp: seccomp_init failed");
  void* c = ctx.get();
  // Every thread (the control server's, vendor workers) gets the same filter, atomically.
  check(seccomp_attr_set(c, SCMP_FLTATR_CTL_TSYNC, 1), "enable TSYNC");
  check(seccomp_attr_set(c, SCMP_FLTATR_CTL_NNP, 1), "set no_new_privs");
  // Syscall numbers tested as a binary tree rather than one by one: every serving syscall pays the filter.
  check(seccomp_attr_set(c, SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimise the filter (binary tree)");

  for (const char* name : kAllowed) {
    const int nr = resolve(name);
    if (nr == __NR_SCMP_ERROR) continue;
    check(seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 0), name);
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Test builds only: the sanitizer runtimes call open and readlink (never used by the product,
  // whose libraries call openat): AddressSanitizer at the first WebSocket handshake,
  // ThreadSanitizer to write a report (its log_path file, named after the executable).
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(open), 0), "open (sanitizer runtime)");
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(readlink), 0), "readlink (sanitizer runtime)");
#endif
  // No new executable memory: code can be neither injected nor loaded once serving.
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
        "mmap");
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
        "mprotect");
  // Threads only, never a new process. clone3 passes its flags in memory the filter cannot
  // read: answer ENOSYS so that glibc falls back to clone(), whose flags are checked.
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                         arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
        "clone");
  check(seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
  // UNIX sockets only (library reconnects); no network, no netlink, no raw sockets.
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, arg(0, SCMP_CMP_EQ, AF_UNIX)), "socket");
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, arg(0, SCMP_CMP_EQ, AF_UNIX)),
        "socketpair");
  // Signals only to this process (abort(), thread cancellation).
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                         arg(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid()))),
        "tgkill");
  // ioctl: only the requests the caller names (the Xen libraries' serving requests, from
  // ioreq::xen_serving_ioctls()) and asking whether a descriptor is a terminal (glibc's isatty,
  // stdio). The kernel sees the request as 32 bits: compare exactly those.
  std::vector<unsigned long> ioctls = options.allowed_ioctls;
  ioctls.push_back(TCGETS);
  for (const unsigned long request : ioctls) {
    check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                           arg(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, request & 0xffffffffu)),
          "ioctl");
  }
  // Reading resource limits only, never raising them.
  check(seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, arg(2, SCMP_CMP_EQ, 0)), "prlimit64");

  if (options.on_violation == SeccompViolation::ErrnoAndLog) {
    g_log_fd.store(options.log_fd);
    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    check_errno(::sigaction(SIGSYS, &sa, nullptr), "seccomp: install the SIGSYS handler");
  }
  check(seccomp_load(c), "load the filter");
  g_refusing_filter_loaded = options.on_violation != SeccompViolation::LogOnly;
}

}  // namespace xvgpu::dm

#if defined(__SANITIZE_ADDRESS__)
// Test builds only: LeakSanitizer's check at exit stops the process's threads from a new task
// that ptraces them (clone without CLONE_THREAD, ptrace), which the filter refuses: the kernel
// would kill the device model at its very end. Under a filter the check is skipped (the
// serving code's leaks are checked by the in-process tests and by runs with --seccomp off).
extern "C" int __lsan_is_turned_off() {
  return xvgpu::dm::g_refusing_filter_loaded.load() ? 1 : 0;
}
#endif
