// simgpu as a dlopen-able plugin (xvgpu-simgpu.so): the only exported symbol.
#include "vendor/simgpu/simgpu_vendor.h"

extern "C" XVGPU_EXPORT const xvgpu_vendor* xvgpu_vendor_entry(void) {
  return xvgpu::simgpu::simgpu_vendor();
}
