// One physical simgpu: finite VRAM and engine contexts that its vGPUs consume, the C
// descriptors that register it with the core, and the engine arbiter its vGPUs share.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vendor/simgpu/engine_arbiter.h"
#include "vendor/simgpu/simgpu_types.h"
#include "xvgpu/vendor.h"

namespace xvgpu::simgpu {

struct PhysicalGpuConfig {
  std::string name = "simgpu0";
  uint64_t vram_bytes = 1024 * kMiB;
  uint32_t engine_contexts = 8;  // hardware queues: one per vGPU
  // Where the host-wide engine arbiter table lives (<dir>/<name>.engine); empty: the engine is
  // arbitrated among this process's vGPUs only.
  std::filesystem::path arbiter_dir;
  uint32_t arbiter_slots = EngineArbiter::kDefaultSlots;
};

// $XVGPU_STATE_DIR/simgpu, or /run/xvgpu/simgpu: the state directory the core's host-wide
// accounting uses, so every xvgpu process of the host finds the same tables.
std::filesystem::path default_arbiter_dir();

// Parses the XVGPU_SIMGPU setting: "name:vram_mib:contexts[,name:vram_mib:contexts...]".
// Throws xvgpu::Error naming the bad part.
std::vector<PhysicalGpuConfig> parse_physical_gpus(const std::string& text);

class PhysicalGpu {
 public:
  explicit PhysicalGpu(PhysicalGpuConfig config);
  PhysicalGpu(const PhysicalGpu&) = delete;
  PhysicalGpu& operator=(const PhysicalGpu&) = delete;

  [[nodiscard]] const xvgpu_pgpu_desc* descriptor() const { return &pgpu_desc_; }
  [[nodiscard]] const PhysicalGpuConfig& config() const { return config_; }

  // How many more instances of the type fit in what this process has left.
  [[nodiscard]] uint32_t available(uint32_t type_index) const;
  // Takes the resources of one instance; false when they are not there.
  bool reserve(uint32_t type_index);
  void unreserve(uint32_t type_index);

  // Opens the arbiter of this GPU's engine (the vendor does it in init(), before xvgpu-dm
  // restricts its system calls; arbiter() does it on first use otherwise). A state directory
  // that cannot be created falls back to this process's own table, with a warning.
  void open_arbiter();
  // Throws xvgpu::Error when the host-wide table cannot be used (full comes from add(); another
  // layout version still in use, or a file that is not a table, comes from here).
  EngineArbiter& arbiter();
  // Where warnings go (the vendor passes the core's log).
  void set_logger(std::function<void(int level, const std::string&)> log) { log_ = std::move(log); }
  uint64_t next_instance_id() { return ++last_instance_id_; }

 private:
  void open_arbiter_locked();

  PhysicalGpuConfig config_;
  // Storage behind the C descriptors (pointers into these stay valid: sized once).
  std::vector<xvgpu_bar_desc> bars_;  // 3 per type
  std::vector<std::vector<const xvgpu_bar_desc*>> bar_ptrs_;
  std::vector<xvgpu_device_layout> layouts_;
  std::array<xvgpu_legacy_io_desc, 2> legacy_io_{};  // VGA ports, Bochs VBE ports (all types)
  std::array<const xvgpu_legacy_io_desc*, 2> legacy_io_ptrs_{};
  std::vector<xvgpu_knob_desc> knobs_;
  std::vector<const xvgpu_knob_desc*> knob_ptrs_;
  std::vector<std::array<uint64_t, 2>> costs_;
  std::vector<xvgpu_type_desc> types_;
  std::vector<const xvgpu_type_desc*> type_ptrs_;
  std::array<xvgpu_resource, 2> resources_{};
  std::array<const xvgpu_resource*, 2> resource_ptrs_{};
  xvgpu_pgpu_desc pgpu_desc_{};
  std::string description_;

  mutable std::mutex mu_;
  uint64_t vram_used_ = 0;
  uint32_t contexts_used_ = 0;
  std::atomic<uint64_t> last_instance_id_{0};
  std::mutex arbiter_mu_;
  std::unique_ptr<EngineArbiter> arbiter_;
  std::string arbiter_error_;
  std::function<void(int level, const std::string&)> log_;
};

}  // namespace xvgpu::simgpu
