#include "ioreq/domain_end.h"

// clang-format off
extern "C" {
#include <xenctrl.h>
#include <xenstore.h>
}
// clang-format on

#include <poll.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>

#include "common/error.h"

namespace xvgpu::ioreq {

namespace {

std::string reason_text(unsigned reason) {
  switch (reason) {
    case SHUTDOWN_poweroff:
      return "poweroff";
    case SHUTDOWN_reboot:
      return "reboot";
    case SHUTDOWN_suspend:
      return "suspend";
    case SHUTDOWN_crash:
      return "crash";
    case SHUTDOWN_watchdog:
      return "watchdog";
    case SHUTDOWN_soft_reset:
      return "soft_reset";
    default:
      return "reason-" + std::to_string(reason);
  }
}

// How the domain ended, or nullopt while it runs (or is paused).
std::optional<std::string> end_of(xc_interface* xc, Domid domid) {
  xc_domaininfo_t info{};
  const int n = xc_domain_getinfolist(xc, domid.value, 1, &info);
  check_errno(n, "dom" + std::to_string(domid.value) + ": xc_domain_getinfolist");
  if (n != 1 || info.domain != domid.value || (info.flags & XEN_DOMINF_dying) != 0) {
    return "gone";
  }
  if ((info.flags & XEN_DOMINF_shutdown) != 0) {
    return reason_text((info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask);
  }
  return std::nullopt;
}

}  // namespace

std::string wait_domain_end(Domid domid) {
  const std::unique_ptr<xc_interface, int (*)(xc_interface*)> xc(xc_interface_open(nullptr, nullptr, 0),
                                                                 xc_interface_close);
  if (!xc) {
    throw SystemError(errno != 0 ? errno : EIO, "xc_interface_open");
  }
  // Watch before the first look, so that an end between the two is not missed.
  const std::unique_ptr<xs_handle, void (*)(xs_handle*)> xs(xs_open(0), xs_close);
  const bool watching = xs && xs_watch(xs.get(), "@releaseDomain", "xvgpu-end");
  for (;;) {
    if (auto end = end_of(xc.get(), domid)) {
      return *end;
    }
    pollfd p{watching ? xs_fileno(xs.get()) : -1, POLLIN, 0};
    const int rc = ::poll(&p, 1, 1000);
    if (rc < 0 && errno != EINTR) {
      throw SystemError(errno, "waiting for @releaseDomain");
    }
    if (rc > 0 && (p.revents & POLLIN) != 0) {
      unsigned num = 0;
      const std::unique_ptr<char*, void (*)(void*)> event(xs_read_watch(xs.get(), &num), std::free);
    }
  }
}

}  // namespace xvgpu::ioreq
