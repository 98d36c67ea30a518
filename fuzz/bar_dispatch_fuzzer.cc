// Trapped BAR dispatch: how a guest access of any size and alignment is split for a vendor.
#include "core_entry_points.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  xvgpu::fuzz::fuzz_bar_dispatch(data, size);
  return 0;
}
