// The ioctl requests the Xen libraries issue on their device files (/dev/xen/privcmd,
// /dev/xen/evtchn) once set-up is over: what the device model's seccomp allow-list lets
// through (src/dm/seccomp_policy.h). Set-up-only requests (binding ports, restricting handles)
// are not in it: after set-up they could only widen what the process reaches. Cross-checked
// against the immediates in Debian 12's libraries (objdump -d: libxenforeignmemory 0x185003,
// 0x205004, 0x205007 and RESTRICT; libxendevicemodel 0x105005 and RESTRICT; libxencall 0x305000;
// libxenevtchn BIND_*, UNBIND, NOTIFY, RESTRICT_DOMID).
#pragma once

#include <span>

namespace xvgpu::ioreq {

struct XenIoctl {
  unsigned long request;
  const char* name;
};

// privcmd: HYPERCALL (libxencall: xc_* calls, dm_op fallback), DM_OP (libxendevicemodel),
// MMAPBATCH(_V2) (libxenforeignmemory map; V1 on old kernels), MMAP_RESOURCE (map_resource);
// evtchn: NOTIFY (answering a vCPU), UNBIND (tear-down). Unmask and pending are write/read.
std::span<const XenIoctl> xen_serving_ioctls();

}  // namespace xvgpu::ioreq
