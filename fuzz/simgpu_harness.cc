#include "simgpu_harness.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "common/temp_dir.h"
#include "fuzz_input.h"
#include "vendor/simgpu/engine_interface.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::fuzz {

namespace {

gpu::VgpuManager& manager() {
  static gpu::VgpuManager* m = [] {
    const int rc = xvgpu_simgpu_register_builtin();
    if (rc != 0 && rc != -EEXIST) violation("simgpu registration failed");
    // The manager's state directory: constructed before it, so removed after it at exit.
    static const TempDir state_dir("xvgpu-fuzz-simgpu-");
    // Destroyed at exit, after simgpu's own statics: a regression test for simgpu's fini()
    // touching its destroyed state (ASan reported heap-use-after-free at exit).
    static gpu::VgpuManager instance(gpu::ManagerOptions{state_dir.path()});
    instance.load_builtin_vendors();
    return &instance;
  }();
  return *m;
}

constexpr const char* kUuid = "f0220000-0000-4000-8000-00000000005e";

}  // namespace

SimgpuHarness::SimgpuHarness(bool direct_vram)
    : platform_(std::make_unique<test::FakePlatform>(Domid{9}, kRamBytes)) {
  gpu::VgpuConfig c;
  c.uuid = kUuid;
  c.type = "simgpu-16";
  c.sbdf = kSimgpuSlot;
  vgpu_ = manager().create_vgpu(c, platform_->platform(direct_vram));
  vgpu_->start();
}

SimgpuHarness::~SimgpuHarness() {
  vgpu_.reset();
  manager().destroy_vgpu(kUuid);
  if (platform_->claims.violations() != 0) violation("unbalanced or overlapping claims");
  if (!platform_->claims.ranges().empty() || !platform_->claims.pcis().empty())
    violation("claims left after destroy");
  if (platform_->memory.live_mappings() != 0) violation("guest mappings left after destroy");
  if (platform_->direct.live() != 0) violation("direct regions left after destroy");
}

uint32_t SimgpuHarness::cfg_read(unsigned off, uint8_t size) {
  const gpu::IoAccess a{gpu::AddressSpace::PciConfig, off, kSimgpuSlot, size, VcpuId{0}};
  return static_cast<uint32_t>(manager().bus(Domid{9}).read(a));
}

void SimgpuHarness::cfg_write(unsigned off, uint8_t size, uint32_t v) {
  const gpu::IoAccess a{gpu::AddressSpace::PciConfig, off, kSimgpuSlot, size, VcpuId{0}};
  manager().bus(Domid{9}).write(a, v);
}

uint64_t SimgpuHarness::mmio_read(uint64_t gpa, uint8_t size) {
  const gpu::IoAccess a{gpu::AddressSpace::Mmio, gpa, {}, size, VcpuId{0}};
  return manager().bus(Domid{9}).read(a);
}

void SimgpuHarness::mmio_write(uint64_t gpa, uint8_t size, uint64_t v) {
  const gpu::IoAccess a{gpu::AddressSpace::Mmio, gpa, {}, size, VcpuId{0}};
  manager().bus(Domid{9}).write(a, v);
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

bool SimgpuHarness::wait_engine_idle() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    const uint64_t status = mmio_read(kBar4 + simgpu::engine::kRegStatus, 4);
    // All ones: BAR 4 is not decoded (the guest moved it or turned decode off): nothing to wait for.
    if ((status & simgpu::engine::kStatusBusy) == 0 || status == 0xffffffff) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return false;
}

}  // namespace xvgpu::fuzz
