#include "ioreq/domain_watch.h"

#include <sys/timerfd.h>

#include <cstdint>

namespace xvgpu::ioreq {

DomainWatch::DomainWatch(const IoreqServer& server, std::chrono::milliseconds interval)
    : server_(server), timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
  if (!timer_) {
    throw SystemError(errno, "timerfd_create (domain watch)");
  }
  if (interval.count() <= 0) {
    interval = std::chrono::milliseconds(250);
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count();
  itimerspec spec{};
  spec.it_interval.tv_sec = ns / 1'000'000'000;
  spec.it_interval.tv_nsec = ns % 1'000'000'000;
  spec.it_value = spec.it_interval;
  check_errno(::timerfd_settime(timer_.get(), 0, &spec, nullptr), "timerfd_settime (domain watch)");
}

bool DomainWatch::check() {
  uint64_t expirations = 0;
  [[maybe_unused]] const auto n = ::read(timer_.get(), &expirations, sizeof expirations);
  return server_.alive();
}

}  // namespace xvgpu::ioreq
