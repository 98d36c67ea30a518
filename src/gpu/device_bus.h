// The IoHandler the hypervisor frontend calls for one guest domain: routes PCI config
// accesses by SBDF and port/MMIO accesses by the BAR windows the vGPUs have mapped.
//
// Several vGPUs share one bus (one per SBDF). Lookups copy a shared_ptr under a shared lock and
// call the vGPU without holding it, so a vGPU moving its BARs (which updates the routes) never
// waits for an access in flight, and a vGPU removed meanwhile stays alive until the access ends.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <shared_mutex>

#include "gpu/io_handler.h"
#include "gpu/platform.h"

namespace xvgpu::gpu {

class Vgpu;

class DeviceBus : public IoHandler {
 public:
  explicit DeviceBus(Domid domid) : domid_(domid) {}

  [[nodiscard]] Domid domid() const { return domid_; }

  // Throws Error when the SBDF is taken.
  void attach(Sbdf sbdf, std::shared_ptr<Vgpu> vgpu);
  void detach(Sbdf sbdf) noexcept;
  // Throws Error when the window overlaps another route of the same space.
  void add_route(IoSpace space, uint64_t first, uint64_t last, std::shared_ptr<Vgpu> vgpu);
  void remove_route(IoSpace space, uint64_t first) noexcept;
  [[nodiscard]] size_t device_count() const;

  uint64_t read(const IoAccess& access) noexcept override;
  void write(const IoAccess& access, uint64_t value) noexcept override;

  // Accesses that reached no device (answered all ones / dropped).
  [[nodiscard]] uint64_t unrouted() const { return unrouted_; }

 private:
  struct Route {
    uint64_t last = 0;
    std::shared_ptr<Vgpu> vgpu;
  };
  std::shared_ptr<Vgpu> find(const IoAccess& access) const;

  Domid domid_;
  mutable std::shared_mutex mu_;
  std::map<Sbdf, std::shared_ptr<Vgpu>> functions_;
  std::map<uint64_t, Route> ports_;
  std::map<uint64_t, Route> mmio_;
  std::atomic<uint64_t> unrouted_{0};
};

}  // namespace xvgpu::gpu
