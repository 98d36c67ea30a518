#include "simgpu_harness.h"

#include <chrono>
#include <thread>

#include "fuzz_input.h"
#include "vendor/simgpu/engine_interface.h"

namespace xvgpu::fuzz {

SimgpuHarness& SimgpuHarness::at_power_on(bool direct_vram) {
  // Destroyed at exit, before the manager (constructed after it).
  static SimgpuHarness direct(true);
  static SimgpuHarness trapped(false);
  SimgpuHarness& h = direct_vram ? direct : trapped;
  h.device_.power_cycle();
  h.engine_at_home_.reset();
  return h;
}

SimgpuHarness::SimgpuHarness(bool direct_vram)
    : device_("simgpu-16", direct_vram ? Domid{9} : Domid{10}, kSimgpuSlot,
              direct_vram ? "f0220000-0000-4000-8000-00000000005e" : "f0220000-0000-4000-8000-00000000005f",
              kRamBytes, direct_vram) {}

uint32_t SimgpuHarness::cfg_read(unsigned off, uint8_t size) {
  const gpu::IoAccess a{gpu::AddressSpace::PciConfig, off, kSimgpuSlot, size, VcpuId{0}};
  return static_cast<uint32_t>(device_.bus().read(a));
}

void SimgpuHarness::cfg_write(unsigned off, uint8_t size, uint32_t v) {
  const gpu::IoAccess a{gpu::AddressSpace::PciConfig, off, kSimgpuSlot, size, VcpuId{0}};
  device_.bus().write(a, v);
  engine_at_home_.reset();
}

uint64_t SimgpuHarness::mmio_read(uint64_t gpa, uint8_t size) {
  const gpu::IoAccess a{gpu::AddressSpace::Mmio, gpa, {}, size, VcpuId{0}};
  return device_.bus().read(a);
}

void SimgpuHarness::mmio_write(uint64_t gpa, uint8_t size, uint64_t v) {
  const gpu::IoAccess a{gpu::AddressSpace::Mmio, gpa, {}, size, VcpuId{0}};
  device_.bus().write(a, v);
}

void SimgpuHarness::enumerate() {
  for (const auto& [bar, addr] : {std::pair{0u, kBar0}, {2u, kBar2}, {4u, kBar4}}) {
    cfg_write(0x10 + bar * 4, 4, 0xffffffff);
    (void)cfg_read(0x10 + bar * 4, 4);
    cfg_write(0x10 + bar * 4, 4, static_cast<uint32_t>(addr));
  }
  cfg_write(0x04, 2, 0x0006);
  unsigned hops = 0;
  for (unsigned cap = cfg_read(0x34, 1); cap != 0 && hops < 48; cap = cfg_read(cap + 1, 1), ++hops) {
    if (cfg_read(cap, 1) != 0x05) continue;
    cfg_write(cap + 4, 4, static_cast<uint32_t>(kMsiAddr));
    cfg_write(cap + 8, 4, 0);
    cfg_write(cap + 12, 2, 0x4041);
    cfg_write(cap + 2, 2, cfg_read(cap + 2, 2) | 1);
  }
}

bool SimgpuHarness::engine_at_home() {
  // Only a config write moves a BAR or toggles decode: the answer holds until the next one.
  if (!engine_at_home_) engine_at_home_ = engine_at_home_now();
  return *engine_at_home_;
}

bool SimgpuHarness::engine_at_home_now() {
  // Memory decode on, BAR 4 where enumerate() put it, and neither the VRAM nor the register BAR
  // moved over it (the core then serves that address from the BAR that claimed it first).
  if ((cfg_read(0x04, 2) & 0x2) == 0 || (cfg_read(0x20, 4) & ~0xfu) != kBar4) return false;
  auto covers = [](uint64_t base, uint64_t size) { return kBar4 >= base && kBar4 - base < size; };
  return !covers(cfg_read(0x10, 4) & ~0xfu, kVramBytes) && !covers(cfg_read(0x18, 4) & ~0xfu, kRegsBytes);
}

bool SimgpuHarness::wait_engine_idle() {
  // The engine runs its ring on the vGPU's worker: sleep until that is idle rather than poll
  // the status register, so the fuzzer's CPU time goes to the engine.
  vgpu().wait_for_queued_work();
  // Elsewhere the status address answers for another BAR or for nothing: the drained worker
  // is all there is to wait for.
  if (!engine_at_home()) return true;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(10);
  for (auto now = start; now < deadline; now = std::chrono::steady_clock::now()) {
    const uint64_t status = mmio_read(kBar4 + simgpu::engine::kRegStatus, 4);
    // All ones: nothing answered the read.
    if ((status & simgpu::engine::kStatusBusy) == 0 || status == 0xffffffff) return true;
    // Most batches finish within microseconds: hand the CPU to the worker thread first, and
    // sleep only for a long one (a sleep costs far more than the batch).
    if (now - start < std::chrono::milliseconds(2)) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return false;
}

}  // namespace xvgpu::fuzz
