// The vendors compiled into xvgpu-dm and xvgpuctl (simgpu), registered with the core before a
// VgpuManager loads its built-in vendors, so both programs offer the same types.
#pragma once

namespace xvgpu::control {

// Idempotent; throws if a vendor cannot be registered.
void register_builtin_vendors();

}  // namespace xvgpu::control
