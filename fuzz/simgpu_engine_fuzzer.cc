// simgpu's engine command ring: the guest programs a ring in its RAM, fills it with descriptors
// (64 hostile bytes each) and rings the doorbell with any tail; it may also reprogram the ring,
// the fence address and the interrupt mask between batches. The engine must finish (or reject)
// every batch in bounded time, never touch memory outside guest RAM/VRAM, and leave nothing
// mapped when the vGPU is destroyed.
#include <cstdint>
#include <cstring>

#include "fuzz_input.h"
#include "simgpu_harness.h"
#include "vendor/simgpu/engine_interface.h"

namespace eng = xvgpu::simgpu::engine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xvgpu::fuzz;
  FuzzInput in(data, size);
  const uint8_t setup = in.u8();
  SimgpuHarness& h = SimgpuHarness::at_power_on((setup & 1) != 0);
  h.enumerate();
  auto reg = [&](uint32_t r, uint32_t v) { h.mmio_write(kBar4 + r, 4, v); };
  constexpr uint64_t kRing = 0x10000;

  unsigned batches = 0;
  while (!in.empty() && batches++ < 16) {
    const uint8_t op = in.u8();
    if ((op & 1) != 0 || batches == 1) {  // (re)program the ring
      const uint32_t ring_size = (op & 2) != 0 ? in.u32() : 1u << (1 + in.u8() % 6);
      const uint64_t base = (op & 4) != 0 ? in.u64() : kRing;
      reg(eng::kRegControl, eng::kControlReset);
      reg(eng::kRegRingBaseLo, static_cast<uint32_t>(base));
      reg(eng::kRegRingBaseHi, static_cast<uint32_t>(base >> 32));
      reg(eng::kRegRingSize, ring_size);
      reg(eng::kRegIrqMask, in.u8() & 3);
      if ((op & 8) != 0) {
        const uint64_t fence = (op & 16) != 0 ? in.u64() : 0x20000;
        reg(eng::kRegFenceAddrLo, static_cast<uint32_t>(fence));
        reg(eng::kRegFenceAddrHi, static_cast<uint32_t>(fence >> 32));
      }
      reg(eng::kRegControl, eng::kControlEnable);
    }
    // Descriptors straight into the ring at its usual place (slots chosen by the input).
    const unsigned n = in.u8() % 8;
    const uint32_t first = in.u8() % 64;
    for (unsigned i = 0; i < n; ++i) {
      eng::Descriptor d{};
      in.fill(std::span(reinterpret_cast<std::byte*>(&d), sizeof d));
      if ((op & 32) != 0) {  // keep it plausible: a known opcode, small geometry, real addresses
        d.opcode = 1 + d.opcode % 4;
        d.flags &= eng::kKnownFlags;
        d.reserved0 = 0;
        std::memset(d.reserved1, 0, sizeof d.reserved1);
        d.width %= 4097;
        d.height %= 65;
        d.src %= (d.opcode == eng::kOpCopyToVram ? kRamBytes : uint64_t{16} << 20);
        d.dst %= (d.opcode == eng::kOpCopyFromVram ? kRamBytes : uint64_t{16} << 20);
      }
      const uint64_t slot = (first + i) % 64;
      auto dst = h.platform().memory.bytes(kRing + slot * eng::kDescriptorSize, eng::kDescriptorSize);
      std::memcpy(dst.data(), &d, sizeof d);
    }
    reg(eng::kRegDoorbell, (op & 64) != 0 ? in.u32() : (first + n) % 64);
    if ((op & 128) != 0) reg(eng::kRegIrqStatus, 0xffffffff);
    if (!h.wait_engine_idle()) violation("engine still busy 10 s after a doorbell");
  }
  return 0;
}
