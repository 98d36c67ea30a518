// simgpu linked into an xvgpu binary: registers the same vendor descriptor as the plugin.
#include "vendor/simgpu/simgpu_vendor.h"

namespace {
const xvgpu_vendor* builtin_entry() {
  return xvgpu::simgpu::simgpu_vendor();
}
}  // namespace

extern "C" int xvgpu_simgpu_register_builtin(void) {
  return xvgpu_register_builtin_vendor(&builtin_entry);
}
