// PCI config space reads and writes (BAR sizing and moves, decode toggling, MSI programming,
// vendor capability): the invariants are checked inside the core's fuzz entry.
#include "core_entry_points.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  xvgpu::fuzz::fuzz_config_space(data, size);
  return 0;
}
