// Proves that our handles are really restricted to the served domain before any guest input
// is read: each handle is asked to act on another domain, and must be refused (EPERM from
// privcmd-backed libraries, EACCES from the evtchn driver). The probes have no effect even
// when they succeed: a vCPU count query, a read-only map (undone), a bind to port 0 (invalid).
#pragma once

#include "common/types.h"
#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

// Throws Error naming the handle that could reach another domain.
void verify_restricted(xendevicemodel_handle* dm, xenforeignmemory_handle* fmem, xenevtchn_handle* xce,
                       Domid domid);

}  // namespace xvgpu::ioreq
