// The core's entry point for a device-model binary (xvgpu-dm) or a management tool (xvgpuctl).
//
//   VgpuManager m;                                  // state dir: $XVGPU_STATE_DIR or /run/xvgpu
//   m.load_builtin_vendors();                       // vendors linked into the binary
//   m.load_plugin("/usr/lib/xvgpu/vendors/x.so");   // or m.load_plugin_dir(dir)
//   for (auto& g : m.physical_gpus()) ...           // types, attributes, available instances
//   auto v = m.create_vgpu({.uuid = U, .type = "simgpu-64", .params = {{"weight", "3"}},
//                           .sbdf = *Sbdf::parse("00:05.0")}, platform);
//   frontend.set_handler(m.bus(domid));             // gpu::IoHandler for that domain
//   v->start(); ... v->stats(); v->knob_set("weight", "2"); v->display_surface(0);
//   m.destroy_vgpu(U);                              // stops it first if running
//
// Thread-safe. Destroying the manager stops and destroys every vGPU, then unloads the vendors.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gpu/device_bus.h"
#include "gpu/host_accounting.h"
#include "gpu/platform.h"
#include "gpu/vendor_plugin.h"
#include "gpu/vgpu.h"

namespace xvgpu::gpu {

struct ManagerOptions {
  std::filesystem::path state_dir = HostAccounting::default_state_dir();
};

struct TypeAvailability {
  const TypeInfo* type = nullptr;
  uint32_t available = 0;  // min(vendor's view, host-wide accounting)
};

struct PhysicalGpuSummary {
  const PgpuInfo* info = nullptr;
  std::string vendor_version;
  std::string source;  // plugin path or "built-in"
  std::vector<TypeAvailability> types;
};

struct PluginLoadFailure {
  std::filesystem::path path;
  std::string message;
};

class VgpuManager {
 public:
  explicit VgpuManager(ManagerOptions options = {});
  VgpuManager(const VgpuManager&) = delete;
  VgpuManager& operator=(const VgpuManager&) = delete;
  ~VgpuManager();

  // Each throws Error / VendorAbiError with the plugin named; a duplicate vendor name is refused.
  void load_plugin(const std::filesystem::path& path);
  void load_builtin_vendors();
  // Loads every *.so (sorted); returns what failed, having loaded the rest.
  std::vector<PluginLoadFailure> load_plugin_dir(const std::filesystem::path& dir);

  [[nodiscard]] std::vector<PhysicalGpuSummary> physical_gpus();
  [[nodiscard]] std::vector<std::string> vendor_names() const;

  // Defined + created (reserved host-wide, vendor instance allocated); start() it to serve the
  // guest. The platform's objects must outlive the vGPU.
  std::shared_ptr<Vgpu> create_vgpu(const VgpuConfig& config, const Platform& platform);
  // Stops (if running) and destroys; throws if unknown or the vendor refuses.
  void destroy_vgpu(const std::string& uuid);
  [[nodiscard]] std::shared_ptr<Vgpu> find(const std::string& uuid) const;
  [[nodiscard]] std::vector<std::shared_ptr<Vgpu>> vgpus() const;

  // The IoHandler of a domain (created on first use).
  DeviceBus& bus(Domid domid);
  [[nodiscard]] HostAccounting& accounting() { return accounting_; }

 private:
  void add_vendor(std::unique_ptr<VendorPlugin> plugin);
  // Resolves type (and optional pGPU) names to a physical GPU with room.
  std::pair<PhysicalGpu*, uint32_t> resolve(const VgpuConfig& config);
  std::shared_ptr<Vgpu> create_vgpu_once(const VgpuConfig& config, const Platform& platform);

  mutable std::mutex mu_;
  HostAccounting accounting_;
  std::vector<std::unique_ptr<VendorPlugin>> vendors_;
  std::map<Domid, std::unique_ptr<DeviceBus>> buses_;
  std::map<std::string, std::shared_ptr<Vgpu>> vgpus_;
};

}  // namespace xvgpu::gpu
