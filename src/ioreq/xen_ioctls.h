// The ioctl requests the Xen libraries issue on their device files (/dev/xen/privcmd,
// /dev/xen/evtchn) once set-up is over: what the device model's seccomp allow-list lets
// through (src/dm/seccomp_policy.h). Set-up-only requests (binding ports, restricting handles)
// are not in it: after set-up they could only widen what the process reaches.
#pragma once

#include <span>

namespace xvgpu::ioreq {

struct XenIoctl {
  unsigned long request;
  const char* name;
};

// privcmd: HYPERCALL (libxencall: xc_* calls, dm_op fallback), DM_OP (libxendevicemodel),
// MMAPBATCH(_V2) and MMAP (libxenforeignmemory map), MMAP_RESOURCE (map_resource);
// evtchn: NOTIFY (answering a vCPU), UNBIND (tear-down). Unmask and pending are write/read.
std::span<const XenIoctl> xen_serving_ioctls();

}  // namespace xvgpu::ioreq
