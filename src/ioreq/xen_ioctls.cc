#include "ioreq/xen_ioctls.h"

#include <sys/ioctl.h>

#include <cstdint>

// clang-format off
extern "C" {
#include <xen/xen.h>
#include <xen/sys/privcmd.h>
#include <xen/sys/evtchn.h>
}
// clang-format on

namespace xvgpu::ioreq {

namespace {
constexpr XenIoctl kServing[] = {
    {IOCTL_PRIVCMD_HYPERCALL, "IOCTL_PRIVCMD_HYPERCALL"},
    {IOCTL_PRIVCMD_DM_OP, "IOCTL_PRIVCMD_DM_OP"},
    {IOCTL_PRIVCMD_MMAPBATCH, "IOCTL_PRIVCMD_MMAPBATCH"},
    {IOCTL_PRIVCMD_MMAPBATCH_V2, "IOCTL_PRIVCMD_MMAPBATCH_V2"},
    {IOCTL_PRIVCMD_MMAP_RESOURCE, "IOCTL_PRIVCMD_MMAP_RESOURCE"},
    {IOCTL_EVTCHN_NOTIFY, "IOCTL_EVTCHN_NOTIFY"},
    {IOCTL_EVTCHN_UNBIND, "IOCTL_EVTCHN_UNBIND"},
};
}  // namespace

std::span<const XenIoctl> xen_serving_ioctls() {
  return kServing;
}

}  // namespace xvgpu::ioreq
