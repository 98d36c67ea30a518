// gpu::DirectMemory on Xen: memory behind a BAR that the guest reaches without ioreqs (VRAM).
//
// The whole budget is set up during privileged set-up, before restriction (growing a domain
// needs an unrestricted xenctrl handle): the domain's maximum is raised by the budget
// (xc_domain_setmaxmem), the pages are populated at an unused "scratch" guest frame range
// (xc_domain_populate_physmap_exact) and mapped into this process. Afterwards only restricted
// devicemodel calls are needed: allocate() carves regions out of that pool; place() moves a
// region's frames to the BAR address with xendevicemodel_relocate_memory (our mapping keeps
// referring to the same pages); unplace() moves them back to their scratch frames;
// collect_dirty() uses xendevicemodel_track_dirty_vram.
// The populated memory belongs to the domain and is released by Xen when the domain dies.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "common/types.h"
#include "gpu/platform.h"
#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

class XenDirectMemory final : public gpu::DirectMemory {
 public:
  struct Pool;

  // Privileged: opens (and closes again) an unrestricted xenctrl handle. Throws SystemError
  // naming the failing call; undoes its own steps on failure.
  static std::unique_ptr<XenDirectMemory> reserve(DevicemodelHandle dm, ForeignMemoryHandle fmem, Domid domid,
                                                  uint64_t scratch_gfn, uint64_t bytes);
  ~XenDirectMemory() override;

  // Throws Error when size is not a positive page multiple or the pool has no room left.
  std::unique_ptr<gpu::DirectRegion> allocate(uint64_t size) override;
  [[nodiscard]] uint64_t free_bytes() const;

  explicit XenDirectMemory(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace xvgpu::ioreq
