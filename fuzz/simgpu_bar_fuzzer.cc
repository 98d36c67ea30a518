// simgpu's trapped BARs (display registers, engine registers, trapped VRAM) and its config
// space, reached through the real core's dispatch: any size (including invalid ones), any
// alignment, any offset, BAR moves and decode toggling in between. The harness checks that
// claims, guest mappings and direct regions all balance out when the vGPU is destroyed.
#include <cstdint>

#include "fuzz_input.h"
#include "simgpu_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xvgpu::fuzz;
  FuzzInput in(data, size);
  const uint8_t setup = in.u8();
  SimgpuHarness& h = SimgpuHarness::at_power_on((setup & 1) != 0);
  if ((setup & 2) == 0) h.enumerate();
  unsigned ops = 0;
  while (!in.empty() && ops++ < 4096) {
    const uint8_t op = in.u8();
    const auto sz = static_cast<uint8_t>(1u << (op & 3));
    switch ((op >> 2) & 7) {
      case 0:
        (void)h.cfg_read(in.u8(), sz > 4 ? 4 : sz);
        break;
      case 1:
        h.cfg_write(in.u8(), sz > 4 ? 4 : sz, in.u32());
        break;
      case 2:  // display registers and engine (two adjacent pages), any alignment
        (void)h.mmio_read(kBar2 + (in.u16() & 0x1fff), sz);
        break;
      case 3:
        h.mmio_write(kBar2 + (in.u16() & 0x1fff), sz, in.u64());
        break;
      case 4:  // VRAM (traps when not direct)
        (void)h.mmio_read(kBar0 + (in.u32() & 0xffffff), sz);
        break;
      case 5:
        h.mmio_write(kBar0 + (in.u32() & 0xffffff), sz, in.u64());
        break;
      case 6: {  // invalid sizes and addresses anywhere
        const uint8_t bad = in.u8();
        const uint64_t gpa = in.u64();
        (void)h.mmio_read(gpa, bad);
        h.mmio_write(gpa, bad, 0);
        break;
      }
      default:
        (void)h.wait_engine_idle();
        break;
    }
  }
  return 0;
}
