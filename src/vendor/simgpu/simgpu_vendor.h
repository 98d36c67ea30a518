// The simgpu vendor as the core sees it (include/xvgpu/vendor.h), and the C++ hooks for
// programs that link it in as a built-in vendor.
//
// Physical simgpus come from the XVGPU_SIMGPU environment variable,
// "name:vram_mib:engine_contexts[,...]" (default "simgpu0:1024:8").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "xvgpu/vendor.h"

namespace xvgpu::simgpu {

class SimgpuDevice;

// The vendor descriptor (the same for the plugin and the built-in vendor).
const xvgpu_vendor* simgpu_vendor();

// Runs fn on the live simgpu instance with this vGPU UUID while it cannot be destroyed;
// false when there is none. For built-in use (tests, screenshots); fn must not call back into
// the core for this instance.
bool with_device(const std::string& uuid, const std::function<void(SimgpuDevice&)>& fn);

}  // namespace xvgpu::simgpu

extern "C" {
// Registers simgpu as a built-in vendor (xvgpu_register_builtin_vendor). 0 or -EEXIST.
int xvgpu_simgpu_register_builtin(void);
}
