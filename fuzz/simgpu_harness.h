// A simgpu-16 vGPU for the simgpu fuzzers: one per VRAM mode for the whole run, at its power-on
// state for each input (resettable_vgpu.h), with the accesses firmware and drivers make.
#pragma once

#include <cstdint>
#include <optional>

#include "resettable_vgpu.h"

namespace xvgpu::fuzz {

inline constexpr uint64_t kBar0 = 0xe0000000;  // VRAM (direct, or trapped without DirectMemory)
inline constexpr uint64_t kBar2 = 0xfebf0000;  // display registers
inline constexpr uint64_t kBar4 = 0xfebf1000;  // engine
inline constexpr uint64_t kMsiAddr = 0xfee01000;
inline constexpr uint64_t kRamBytes = uint64_t{1} << 20;
inline constexpr uint64_t kVramBytes = uint64_t{16} << 20;  // simgpu-16's BAR 0
inline constexpr uint64_t kRegsBytes = 4096;                // BAR 2
inline const Sbdf kSimgpuSlot{0, 0, 5, 0};

class SimgpuHarness {
 public:
  // The device for this input, at power-on. direct_vram=false: VRAM BAR accesses trap too.
  static SimgpuHarness& at_power_on(bool direct_vram);

  uint32_t cfg_read(unsigned off, uint8_t size);
  void cfg_write(unsigned off, uint8_t size, uint32_t v);
  uint64_t mmio_read(uint64_t gpa, uint8_t size);
  void mmio_write(uint64_t gpa, uint8_t size, uint64_t v);
  // What firmware does: places BARs 0/2/4, enables memory decode and bus mastering, MSI.
  void enumerate();
  // Waits (bounded) until the engine reports idle; false if it stays busy.
  bool wait_engine_idle();
  // BAR 4 decoded at kBar4 and not shadowed by another BAR: its registers answer there.
  bool engine_at_home();

  test::FakePlatform& platform() { return device_.platform(); }
  gpu::Vgpu& vgpu() { return device_.vgpu(); }

 private:
  explicit SimgpuHarness(bool direct_vram);
  bool engine_at_home_now();
  ResettableVgpu device_;
  std::optional<bool> engine_at_home_;  // until the next config write or power cycle
};

}  // namespace xvgpu::fuzz
