// Loading vendors: plugins by dlopen (a path or every *.so of a directory) and vendors built
// into the binary (xvgpu_register_builtin_vendor). Both go through the same ABI checks and the
// same registration of physical GPUs (vendor_descriptor.h).
#pragma once

#include <xvgpu/vendor.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gpu/vendor_model.h"

namespace xvgpu::gpu {

class VendorPlugin;

// One physical GPU a vendor registered, with its (normalised) ops table.
class PhysicalGpu {
 public:
  PhysicalGpu(VendorPlugin& vendor, PgpuInfo info, const xvgpu_device_ops& ops, void* data)
      : vendor_(vendor), info_(std::move(info)), ops_(ops), data_(data) {}
  [[nodiscard]] const PgpuInfo& info() const { return info_; }
  [[nodiscard]] const xvgpu_device_ops& ops() const { return ops_; }
  [[nodiscard]] void* data() const { return data_; }
  [[nodiscard]] VendorPlugin& vendor() const { return vendor_; }
  // The vendor's own view of how many more instances fit (0 on a vendor error).
  [[nodiscard]] uint32_t vendor_available(uint32_t type_index) const;

 private:
  VendorPlugin& vendor_;
  PgpuInfo info_;
  xvgpu_device_ops ops_;
  void* data_;
};

class VendorPlugin {
 public:
  // Loads a shared object. Throws VendorAbiError (ABI, descriptors, init refused) or Error.
  static std::unique_ptr<VendorPlugin> load(const std::filesystem::path& path);
  static std::unique_ptr<VendorPlugin> from_entry(xvgpu_vendor_entry_fn entry, const std::string& source);

  VendorPlugin(const VendorPlugin&) = delete;
  VendorPlugin& operator=(const VendorPlugin&) = delete;
  // Calls fini() and dlclose(). Every instance must be destroyed before.
  ~VendorPlugin();

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& version() const { return version_; }
  [[nodiscard]] const std::string& source() const { return source_; }
  [[nodiscard]] uint32_t abi_minor() const { return abi_minor_; }
  [[nodiscard]] const std::vector<std::unique_ptr<PhysicalGpu>>& pgpus() const { return pgpus_; }

  // Used by the registrar during init().
  void add_pgpu(std::unique_ptr<PhysicalGpu> pgpu);

 private:
  struct DlClose {
    void operator()(void* handle) const;
  };
  VendorPlugin() = default;
  void init(xvgpu_vendor_entry_fn entry);

  std::unique_ptr<void, DlClose> handle_;
  xvgpu_vendor vendor_{};
  std::string name_;
  std::string version_;
  std::string source_;
  uint32_t abi_minor_ = 0;
  bool initialised_ = false;
  std::vector<std::unique_ptr<PhysicalGpu>> pgpus_;
};

// Entries registered with xvgpu_register_builtin_vendor(), in registration order.
std::vector<xvgpu_vendor_entry_fn> builtin_vendor_entries();

}  // namespace xvgpu::gpu
