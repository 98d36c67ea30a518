#include "ioreq/domain_watch.h"

#include <sys/timerfd.h>

// clang-format off
extern "C" {
#include <xenstore.h>
}
// clang-format on

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace xvgpu::ioreq {

namespace {
constexpr const char* kReleaseDomain = "@releaseDomain";
constexpr const char* kToken = "xvgpu-domain-watch";
}  // namespace

DomainWatch::DomainWatch(const IoreqServer& server, std::chrono::milliseconds interval)
    : server_(server),
      timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)),
      xs_(nullptr, xs_close) {
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

  xs_.reset(xs_open(0));
  if (!xs_) {
    spdlog::debug("dom{}: no xenstore ({}): domain death noticed by polling every {} ms",
                  server_.domid().value, std::strerror(errno), interval.count());
  } else if (!xs_watch(xs_.get(), kReleaseDomain, kToken)) {
    spdlog::debug("dom{}: cannot watch {} ({}): domain death noticed by polling every {} ms",
                  server_.domid().value, kReleaseDomain, std::strerror(errno), interval.count());
    xs_.reset();
  }
}

DomainWatch::~DomainWatch() = default;

int DomainWatch::release_fd() const {
  return xs_ ? xs_fileno(xs_.get()) : -1;
}

bool DomainWatch::check() {
  uint64_t expirations = 0;
  [[maybe_unused]] const auto n = ::read(timer_.get(), &expirations, sizeof expirations);
  return server_.alive();
}

bool DomainWatch::check_release() {
  if (xs_) {
    for (;;) {
      errno = 0;
      char** ev = xs_check_watch(xs_.get());
      if (ev == nullptr) {
        if (errno != EAGAIN) {  // EWOULDBLOCK is EAGAIN on Linux
          spdlog::debug("dom{}: the {} watch broke ({}): polling only", server_.domid().value, kReleaseDomain,
                        std::strerror(errno));
          xs_.reset();
        }
        break;
      }
      std::free(ev);  // NOLINT(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory): libxenstore's result
    }
  }
  return server_.alive();
}

}  // namespace xvgpu::ioreq
