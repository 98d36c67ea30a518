// A whole running vGPU (echo vendor) driven through its device bus as a hostile guest would.
#include "core_entry_points.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)xvgpu::fuzz::fuzz_vgpu_io(data, size);
  return 0;
}
