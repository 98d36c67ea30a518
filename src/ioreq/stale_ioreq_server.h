// Removing an ioreq server that a killed device model left registered with Xen. Xen keeps a
// server until it is destroyed or its domain dies; nothing tells it that the process serving it
// is gone, and a synchronous broadcast (INVALIDATE) then waits for that server forever. The
// device model that takes over (src/dm/server_record.h knows which id was left, and for which
// instance of the domain) removes it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "common/types.h"

namespace xvgpu::ioreq {

// The domain's handle (xen_domain_handle_t: the UUID its toolstack gave it at creation, what
// xc_domain_getinfolist reports), or nullopt when there is no domain `domid`. Domids are reused;
// the handle tells one instance of a domain from a later one with the same domid. Throws
// SystemError when Xen cannot be asked.
std::optional<std::array<uint8_t, 16>> domain_handle(Domid domid);

// xendevicemodel_destroy_ioreq_server(domid, id) on a handle of its own. Returns false when
// there was no such server (ENOENT: already gone); throws SystemError for any other failure.
bool destroy_stale_ioreq_server(Domid domid, uint16_t id);

}  // namespace xvgpu::ioreq
