// A vGPU behind the real core on the fake platform (tests/support) that lives for the whole
// fuzzing run and is brought back to its power-on state before each input: a device reset (the
// product's Vgpu::reset: vendor reset, config space to power-on, BARs unmapped, interrupts
// off), guest RAM and the direct BARs' memory zeroed. Checked after every reset: nothing claimed
// but the function, nothing mapped or placed, the config space as at power-on. So every input
// starts from the same state and a finding reproduces from its input alone, without paying
// for a vGPU's creation (reservation files, threads, memory) per input.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "gpu/vgpu_manager.h"
#include "support/fake_platform.h"

namespace xvgpu::fuzz {

// The process's manager, with the built-in vendors (simgpu, the fuzz echo vendor) loaded.
gpu::VgpuManager& fuzz_manager();

class ResettableVgpu {
 public:
  // type: "vendor/type"; one instance per (domid, uuid). direct=false: no DirectMemory, so
  // direct BARs are served by trapping.
  ResettableVgpu(const std::string& type, Domid domid, Sbdf sbdf, const std::string& uuid, uint64_t ram_bytes,
                 bool direct);
  // Destroys the vGPU; everything must be released.
  ~ResettableVgpu();
  ResettableVgpu(const ResettableVgpu&) = delete;
  ResettableVgpu& operator=(const ResettableVgpu&) = delete;

  // Running again (started if stopped), reset, memory zeroed, checked.
  void power_cycle();

  [[nodiscard]] gpu::Vgpu& vgpu() { return *vgpu_; }
  [[nodiscard]] test::FakePlatform& platform() { return *platform_; }
  [[nodiscard]] gpu::IoHandler& bus() { return fuzz_manager().bus(domid_); }
  [[nodiscard]] Sbdf sbdf() const { return sbdf_; }

 private:
  void check_at_rest(const char* when);

  Domid domid_;
  Sbdf sbdf_;
  std::string uuid_;
  uint64_t ram_bytes_;
  std::unique_ptr<test::FakePlatform> platform_;
  std::shared_ptr<gpu::Vgpu> vgpu_;
  std::array<uint32_t, 64> power_on_config_{};
};

}  // namespace xvgpu::fuzz
