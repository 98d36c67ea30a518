// xvgpuctl's exit codes (docs/man/xvgpuctl.1, EXIT STATUS). Scripts rely on them.
#pragma once

namespace xvgpu::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;     // the operation failed (message on stderr)
inline constexpr int kExitUsage = 2;       // bad command line
inline constexpr int kExitNotFound = 3;    // no such vGPU, definition, type or knob
inline constexpr int kExitNotRunning = 4;  // no device model runs for that domain / vGPU
inline constexpr int kExitDmFailed = 5;    // the device model failed to start or to stop

}  // namespace xvgpu::ctl
