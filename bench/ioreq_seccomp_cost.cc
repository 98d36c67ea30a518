// What xvgpu-dm's seccomp filter (src/dm/seccomp_policy.cc) adds to each syscall of the ioreq
// path, measured in this process before and after installing the same filter xvgpu-dm installs
// (kill mode, the Xen serving ioctls allowed).
//
//   ioreq_seccomp_cost [calls]
//
// Three calls stand for the four syscalls of one ioreq wake-up (ioreq_loop.h):
//  - read of an empty non-blocking eventfd (EAGAIN): as xenevtchn_pending's read, and like
//    epoll_wait and the unmask write, allowed whatever the arguments. Linux >= 5.11 caches such
//    syscalls in a per-filter bitmap and never runs the filter for them.
//  - ioctl(IOCTL_EVTCHN_NOTIFY) on that eventfd (ENOTTY): xenevtchn_notify's ioctl; allowed
//    only for listed requests, so the filter runs on every call.
//  - ioctl(TCGETS) (ENOTTY): the last ioctl rule added.
// Each figure is the best of 5 rounds of `calls` calls (default 1,000,000), in ns per call.
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "dm/seccomp_policy.h"
#include "ioreq/xen_ioctls.h"

namespace {

double best_ns_per_call(const std::function<void()>& call, uint64_t calls) {
  double best = 1e18;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < calls; ++i) call();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best,
                    std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(calls));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t calls = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    std::perror("eventfd");
    return 1;
  }
  unsigned long notify = 0;
  xvgpu::dm::SeccompOptions so;
  so.on_violation = xvgpu::dm::SeccompViolation::KillProcess;
  for (const auto& i : xvgpu::ioreq::xen_serving_ioctls()) {
    so.allowed_ioctls.push_back(i.request);
    if (std::strcmp(i.name, "IOCTL_EVTCHN_NOTIFY") == 0) notify = i.request;
  }

  struct Probe {
    const char* name;
    std::function<void()> call;
    double off = 0;
    double on = 0;
  };
  Probe probes[] = {
      {"read (EAGAIN; unconditionally allowed)",
       [fd] {
         uint64_t v = 0;
         [[maybe_unused]] const auto r = ::read(fd, &v, sizeof v);
       }},
      {"ioctl IOCTL_EVTCHN_NOTIFY (argument-checked)",
       [fd, notify] { [[maybe_unused]] const int r = ::ioctl(fd, notify, nullptr); }},
      {"ioctl TCGETS (argument-checked)",
       [fd] {
         termios t{};
         [[maybe_unused]] const int r = ::ioctl(fd, TCGETS, &t);
       }},
  };
  for (auto& p : probes) p.off = best_ns_per_call(p.call, calls);
  xvgpu::dm::install_seccomp_policy(so);
  for (auto& p : probes) p.on = best_ns_per_call(p.call, calls);

  std::printf("seccomp cost per syscall (best of 5 x %llu calls; filter as xvgpu-dm --seccomp kill):\n",
              static_cast<unsigned long long>(calls));
  std::printf("  %-46s %10s %10s %10s\n", "syscall", "off ns", "on ns", "added ns");
  for (const auto& p : probes)
    std::printf("  %-46s %10.1f %10.1f %10.1f\n", p.name, p.off, p.on, p.on - p.off);
  ::close(fd);
  return 0;
}
