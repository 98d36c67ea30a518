// One simgpu vGPU instance: the display registers (BAR2), the engine (BAR4) and the VRAM the
// guest reaches directly (BAR0), with its knobs, counters, scan-out and save/restore.
// Methods are called by the vendor ops (vendor_ops.cc), which the core serialises per
// instance; only the engine is shared with the worker thread (it locks itself).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vendor/simgpu/display_registers.h"
#include "vendor/simgpu/engine.h"
#include "vendor/simgpu/fair_share.h"
#include "vendor/simgpu/host_services.h"
#include "vendor/simgpu/knobs.h"
#include "vendor/simgpu/physical_gpu.h"
#include "vendor/simgpu/scanout.h"
#include "vendor/simgpu/simgpu_types.h"
#include "vendor/simgpu/vram_dirty_map.h"

namespace xvgpu::simgpu {

class SimgpuDevice {
 public:
  static constexpr uint32_t kVramBar = 0;
  static constexpr uint32_t kRegisterBar = 2;
  static constexpr uint32_t kEngineBar = 4;

  // vram: the host view of BAR0. Registers the instance with the physical GPU's arbiter.
  SimgpuDevice(PhysicalGpu& pgpu, uint32_t type_index, const HostServices& host, std::span<std::byte> vram,
               const DeviceOptions& options);
  ~SimgpuDevice();
  SimgpuDevice(const SimgpuDevice&) = delete;
  SimgpuDevice& operator=(const SimgpuDevice&) = delete;

  // Trapped BAR access; false: refused (the core answers all ones / drops it and counts it).
  // region: a BAR index, or XVGPU_REGION_LEGACY_IO + LegacyRange for the legacy ports.
  bool read(uint32_t region, uint64_t offset, uint32_t size, uint64_t& value);
  bool write(uint32_t region, uint64_t offset, uint32_t size, uint64_t value);

  void set_msi_enabled(bool enabled) { engine_.set_msi_enabled(enabled); }
  void start() { engine_.kick(); }
  void reset();

  void read_stats(std::span<uint64_t> values) const;

  [[nodiscard]] const DeviceOptions& options() const { return options_; }
  // Run-time knob changes (values the knob table has checked): takes effect at once.
  void apply_options(const DeviceOptions& options);

  // The current scan-out (counts a frame when the head is on).
  ScanoutSurface scan_out();
  // The current scan-out in RGB, every format the display shows (the palette included);
  // throws xvgpu::Error when the display is off.
  RgbFrame screenshot_rgb();

  [[nodiscard]] std::vector<uint8_t> save() const;
  // Applies a saved image, all or nothing; throws xvgpu::Error naming what is wrong.
  void restore(std::span<const uint8_t> image);

  [[nodiscard]] uint32_t type_index() const { return type_index_; }
  [[nodiscard]] std::span<std::byte> vram() const { return vram_; }

 private:
  uint32_t type_index_;
  uint64_t instance_id_;
  ArbiterSlot slot_;  // before engine_: the engine uses it until destroyed
  HostServices host_;
  std::span<std::byte> vram_;
  DeviceOptions options_;
  bool display_write_locked(uint64_t offset, uint32_t size, uint64_t value);
  std::optional<uint64_t> vbe_port_read_locked(uint64_t offset, uint32_t size);
  // Display damage for the core's console (ABI 1.2): the surface changed, or the device itself
  // wrote VRAM bytes [offset, offset + length), which the core also hears of for the
  // hypervisor's dirty log (ABI 1.3). Never called with display_mu_ held.
  void report_surface_if_changed();
  void report_vram_write(uint64_t offset, uint64_t length);
  void set_engine_weight(uint32_t weight);
  void set_priority(EnginePriority priority);
  bool vbe_port_write_locked(uint64_t offset, uint32_t size, uint64_t value);

  mutable std::mutex display_mu_;  // display state is also read by with_device() users
  DisplayRegisters display_;
  uint16_t vbe_index_ = 0;  // the Bochs VBE index port (0x1ce)
  std::mutex shown_mu_;     // leaf: the surface last reported to the core
  ScanoutSurface shown_;
  VramDirtyMap dirty_;
  Engine engine_;
  std::atomic<uint64_t> frames_{0};
  std::atomic<uint64_t> refused_writes_{0};
  std::atomic<uint64_t> rows_converted_{0};
};

}  // namespace xvgpu::simgpu
