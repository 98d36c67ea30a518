// A simgpu vGPU behind the real core on the fake platform (tests/support), created afresh for
// each fuzz input so that every crash reproduces from its input alone.
#pragma once

#include <cstdint>
#include <memory>

#include "gpu/vgpu_manager.h"
#include "support/fake_platform.h"

namespace xvgpu::fuzz {

inline constexpr uint64_t kBar0 = 0xe0000000;  // VRAM (direct, or trapped without DirectMemory)
inline constexpr uint64_t kBar2 = 0xfebf0000;  // display registers
inline constexpr uint64_t kBar4 = 0xfebf1000;  // engine
inline constexpr uint64_t kMsiAddr = 0xfee01000;
inline constexpr uint64_t kRamBytes = uint64_t{1} << 20;
inline const Sbdf kSimgpuSlot{0, 0, 5, 0};

class SimgpuHarness {
 public:
  // direct_vram=false: VRAM BAR accesses trap too.
  explicit SimgpuHarness(bool direct_vram);
  ~SimgpuHarness();
  SimgpuHarness(const SimgpuHarness&) = delete;
  SimgpuHarness& operator=(const SimgpuHarness&) = delete;

  uint32_t cfg_read(unsigned off, uint8_t size);
  void cfg_write(unsigned off, uint8_t size, uint32_t v);
  uint64_t mmio_read(uint64_t gpa, uint8_t size);
  void mmio_write(uint64_t gpa, uint8_t size, uint64_t v);
  // What firmware does: places BARs 0/2/4, enables memory decode and bus mastering, MSI.
  void enumerate();
  // Waits (bounded) until the engine reports idle; false if it stays busy.
  bool wait_engine_idle();

  test::FakePlatform& platform() { return *platform_; }
  gpu::Vgpu& vgpu() { return *vgpu_; }

 private:
  std::unique_ptr<test::FakePlatform> platform_;
  std::shared_ptr<gpu::Vgpu> vgpu_;
};

}  // namespace xvgpu::fuzz
