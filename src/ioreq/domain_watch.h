// Notices that the served domain is gone, with restricted handles only.
//
// A restricted process cannot ask xenctrl about the domain; instead a timerfd in the loop
// makes it ask Xen about its own ioreq server (xendevicemodel_get_ioreq_server_info), which
// fails once the domain is dying or destroyed (Xen tears its ioreq servers down then).
#pragma once

#include <chrono>

#include "common/unique_fd.h"
#include "ioreq/ioreq_server.h"

namespace xvgpu::ioreq {

class DomainWatch {
 public:
  DomainWatch(const IoreqServer& server, std::chrono::milliseconds interval);
  [[nodiscard]] int fd() const { return timer_.get(); }
  // Call when fd() is readable. False when the domain (or our server) is gone.
  bool check();

 private:
  const IoreqServer& server_;
  UniqueFd timer_;
};

}  // namespace xvgpu::ioreq
