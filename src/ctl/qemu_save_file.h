// The device-model save file libxl keeps for an HVM guest (QEMU's xen-save-devices-state output,
// handed back with -incoming fd:N) carries the vGPUs' state behind QEMU's own:
//   [QEMU's bytes][xvgpu device state][u64 length of the device state]["XVGPUQST"]
// QEMU stops reading at the end of its own stream, but the wrapper gives it only its part anyway.
#pragma once

#include <optional>
#include <string>

namespace xvgpu::ctl {

// Appends the device state file `state` and the trailer at the end of the file open as fd
// (libxl's save file, opened for writing). Throws Error naming the problem.
void append_vgpu_state(int fd, const std::string& state);

// Splits `in` into QEMU's part (written to qemu_out) and the vGPU state (vgpu_out). Returns
// false when `in` carries no vGPU state (nothing written). Throws Error for a trailer that
// does not fit the file.
bool split_vgpu_state(const std::string& in, const std::string& qemu_out, const std::string& vgpu_out);

}  // namespace xvgpu::ctl
