// Notices that the served domain is gone, with restricted handles only.
//
// A restricted process cannot ask xenctrl about the domain; instead it asks Xen about its own
// ioreq server (xendevicemodel_get_ioreq_server_info), which fails once the domain is dying or
// destroyed (Xen tears its ioreq servers down then). When to ask: at once when xenstored fires
// @releaseDomain (some domain died or shut down; any dom0 process may watch it, no toolstack
// privilege needed), and on a timer as well, for a host without xenstored or a domain never
// introduced to it.
#pragma once

#include <chrono>
#include <memory>

#include "common/unique_fd.h"
#include "ioreq/ioreq_server.h"

struct xs_handle;

namespace xvgpu::ioreq {

class DomainWatch {
 public:
  DomainWatch(const IoreqServer& server, std::chrono::milliseconds interval);
  ~DomainWatch();
  DomainWatch(const DomainWatch&) = delete;
  DomainWatch& operator=(const DomainWatch&) = delete;

  // The timer; call check() when readable. False when the domain (or our server) is gone.
  [[nodiscard]] int fd() const { return timer_.get(); }
  bool check();
  // The @releaseDomain watch (-1 without xenstore); call check_release() when readable.
  [[nodiscard]] int release_fd() const;
  // Consumes the watch events, then checks as check() does. A watch that broke (xenstored
  // gone, handle restricted) is dropped: release_fd() is -1 afterwards and the timer remains.
  bool check_release();

 private:
  const IoreqServer& server_;
  UniqueFd timer_;
  std::unique_ptr<xs_handle, void (*)(xs_handle*)> xs_;
};

}  // namespace xvgpu::ioreq
