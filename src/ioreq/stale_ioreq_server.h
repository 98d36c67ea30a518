// Removing an ioreq server that a killed device model left registered with Xen. Xen keeps a
// server until it is destroyed or its domain dies; nothing tells it that the process serving it
// is gone, and a synchronous broadcast (INVALIDATE) then waits for that server forever. The
// device model that takes over (src/dm/server_record.h knows which id was left) removes it.
#pragma once

#include <cstdint>

#include "common/types.h"

namespace xvgpu::ioreq {

// xendevicemodel_destroy_ioreq_server(domid, id) on a handle of its own. Returns false when
// there was no such server (ENOENT: already gone); throws SystemError for any other failure.
bool destroy_stale_ioreq_server(Domid domid, uint16_t id);

}  // namespace xvgpu::ioreq
