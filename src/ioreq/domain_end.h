// How a domain's life ends, for supervisors that must act on it (the PVH launcher restarts a VM
// whose guest rebooted, which libxl does only for domains with a device model it started).
#pragma once

#include <string>

#include "common/types.h"

namespace xvgpu::ioreq {

// Blocks until domain `domid` has shut down or no longer exists, and returns how: the shutdown
// reason ("poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset", "reason-N") or
// "gone" (destroyed, or never there). Wakes on xenstored's @releaseDomain, and once a second
// without xenstored. Throws SystemError when Xen cannot be asked.
std::string wait_domain_end(Domid domid);

}  // namespace xvgpu::ioreq
