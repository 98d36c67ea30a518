// gpu::DirectMemory on Xen: memory behind a BAR that the guest reaches without ioreqs (VRAM).
//
// The whole budget is set up during privileged set-up, before restriction (growing a domain
// needs an unrestricted xenctrl handle): the domain's maximum is raised by the budget
// (xc_domain_setmaxmem), the pages are populated at an unused "scratch" guest frame range
// (xc_domain_populate_physmap_exact) and mapped into this process. Afterwards only restricted
// devicemodel calls are needed: allocate() carves regions out of that pool; place() moves a
// region's frames to the BAR address with xendevicemodel_relocate_memory (our mapping keeps
// referring to the same pages); unplace() moves them back to their scratch frames;
// collect_dirty() uses xendevicemodel_track_dirty_vram; device_wrote() and every move report the
// frames to the dirty log (xendevicemodel_modified_memory), so a live migration sends them.
// One populated guard frame sits above the pool: Xen refuses to log the domain's highest frame
// as modified (it wants first_pfn + nr <= its maximum gpfn), so no VRAM frame may be the highest.
// Once committed, the populated memory belongs to the domain and is released by Xen when the
// domain dies; a failed set-up gives it back at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "common/types.h"
#include "gpu/platform.h"
#include "ioreq/direct_layout.h"
#include "ioreq/dirty_log.h"
#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

class XenDirectMemory final : public gpu::DirectMemory {
 public:
  struct Pool;

  // Privileged: opens an unrestricted xenctrl handle, kept until commit(). scratch_gfn 0: just
  // above what the guest's RAM can occupy (see the .cc). Throws SystemError
  // naming the failing call; undoes its own steps on failure.
  static std::unique_ptr<XenDirectMemory> reserve(DevicemodelHandle dm, const ForeignMemoryHandle& fmem,
                                                  std::shared_ptr<DirtyLog> dirty, Domid domid,
                                                  uint64_t scratch_gfn, uint64_t bytes);
  // Restore: the pool of a saved device model, whose pages the (restored) domain already has:
  // moves regions placed at BARs back to their scratch frames and maps the pool; populates
  // nothing and leaves the domain's maximum alone. Throws naming a page that is not there.
  static std::unique_ptr<XenDirectMemory> adopt(DevicemodelHandle dm, const ForeignMemoryHandle& fmem,
                                                std::shared_ptr<DirtyLog> dirty, Domid domid,
                                                const DirectLayout& saved);
  // Set-up of the whole frontend succeeded: keep the memory, close the xenctrl handle. Until
  // then, destruction gives the memory back to Xen and restores the domain's maximum.
  void commit() noexcept { undo_ = nullptr; }
  ~XenDirectMemory() override;

  // Throws Error when size is not a positive page multiple or the pool has no room left.
  std::unique_ptr<gpu::DirectRegion> allocate(uint64_t size) override;
  // The pool's frames are the domain's: xl save and xl migrate carry them.
  [[nodiscard]] bool saved_with_guest_memory() const override { return true; }
  [[nodiscard]] uint64_t free_bytes() const;
  // The pool and where each allocated region is now (what a saved device state records).
  [[nodiscard]] DirectLayout layout() const;
  // The domain died: placements are no longer moved back (the teardown would only fail).
  void domain_gone() noexcept;

  XenDirectMemory(std::shared_ptr<Pool> pool, std::function<void()> undo)
      : pool_(std::move(pool)), undo_(std::move(undo)) {}

 private:
  std::shared_ptr<Pool> pool_;
  std::function<void()> undo_;  // owns the xenctrl handle until commit()
};

}  // namespace xvgpu::ioreq
