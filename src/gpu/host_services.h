// The services table (struct xvgpu_host_api) the core gives every vendor, and the definitions
// of the opaque C handles of include/xvgpu/vendor.h.
#pragma once

#include <xvgpu/vendor.h>

#include <memory>
#include <string>
#include <vector>

#include "gpu/platform.h"

namespace xvgpu::gpu {
class Vgpu;
class VendorPlugin;
const xvgpu_host_api* host_api();
}  // namespace xvgpu::gpu

// The instance handle the vendor passes back to host services.
struct xvgpu_instance {
  xvgpu::gpu::Vgpu* vgpu;
};

// Collects physical GPU registrations during a vendor's init().
struct xvgpu_registrar {
  xvgpu::gpu::VendorPlugin* plugin;
  std::string error;  // first registration error, fails the load
};

// Pinned guest mappings of one sg_map() call.
struct xvgpu_sg_mapping {
  std::vector<std::unique_ptr<xvgpu::gpu::GuestMapping>> maps;
};
