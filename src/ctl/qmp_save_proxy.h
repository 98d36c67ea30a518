// Sits between libxl and qemu-xen on libxl's QMP socket (HVM guests started through
// xvgpu-qemu-wrapper), so that `xl save` carries the vGPUs' state with QEMU's.
//
// libxl 4.17 saves an HVM guest's device model over QMP: "stop", "add-fd" with the save file's
// descriptor (SCM_RIGHTS), then "xen-save-devices-state" with "/dev/fdset/N"; it then copies the
// file into the save image, and on restore hands it back to the new QEMU with -incoming fd:N.
// The proxy passes every byte and descriptor through unchanged; when QEMU answers a
// xen-save-devices-state with success, it first has the vGPU state appended to the same file
// (on_devices_saved gets a duplicate of the descriptor libxl passed); if that fails, libxl gets
// a QMP error instead of QEMU's success, so the save fails rather than losing the vGPUs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace xvgpu::ctl {

struct QmpSaveProxyOptions {
  std::string listen_path;  // where libxl connects (its QMP socket path)
  std::string qemu_path;    // qemu-xen's own QMP server socket
  pid_t watch_pid = 0;      // serve while this process (qemu-xen) lives
  // Appends the vGPU state to the file open as fd; throws Error to fail the save.
  std::function<void(int fd)> on_devices_saved;
};

// Listens, then serves until watch_pid is gone. Throws Error when it cannot listen.
void run_qmp_save_proxy(const QmpSaveProxyOptions& o);

}  // namespace xvgpu::ctl
