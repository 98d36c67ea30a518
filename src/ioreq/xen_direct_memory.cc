#include "ioreq/xen_direct_memory.h"

// xenctrl.h pulls in headers that need GNU extensions: this file builds with -std=gnu++20.
// clang-format off
extern "C" {
#include <xenctrl.h>
}
// clang-format on

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <vector>

namespace xvgpu::ioreq {

struct XenDirectMemory::Pool {
  DevicemodelHandle dm;
  Domid domid;
  uint64_t scratch_gfn = 0;
  uint64_t pages = 0;
  std::shared_ptr<DirtyLog> dirty;
  ForeignMapping mapping;
  mutable std::mutex mu;
  std::map<uint64_t, uint64_t> free;                  // first page -> number of pages
  std::map<uint64_t, DirectRegionPlacement> regions;  // first page -> allocated region (under mu)
  std::atomic<bool> domain_gone{false};

  // Moves `n` frames from gfn `from` to gfn `to` in the guest's physmap. Nothing to move once
  // the domain is gone (Xen freed its physmap; each call would fail).
  void relocate(uint64_t from, uint64_t to, uint64_t n) const {
    if (domain_gone.load()) {
      spdlog::debug("dom{}: {} frames at {:#x} not moved: the domain is gone", domid.value, n, from);
      return;
    }
    for (uint64_t done = 0; done < n;) {
      const auto chunk = static_cast<uint32_t>(std::min<uint64_t>(n - done, UINT32_MAX));
      check_errno(xendevicemodel_relocate_memory(dm.get(), domid.value, chunk, from + done, to + done),
                  fmt::format("dom{}: xendevicemodel_relocate_memory({} frames, {:#x} -> {:#x})", domid.value,
                              chunk, from + done, to + done));
      done += chunk;
    }
  }
  // Frames that now hold VRAM contents the domain's saved image may lack (written by this
  // process, or moved there), reported to the dirty log. Nothing to tell once the domain is gone.
  void report(uint64_t gfn, uint64_t offset, uint64_t len) const noexcept {
    if (!domain_gone.load()) {
      dirty->report((gfn << kPageShift) + offset, len);
    }
  }
  void record_gfn(uint64_t first, uint64_t gfn) {
    std::lock_guard lock(mu);
    if (auto it = regions.find(first); it != regions.end()) {
      it->second.gfn = gfn;
    }
  }
  void give_back(uint64_t first, uint64_t n) {
    std::lock_guard lock(mu);
    regions.erase(first);
    auto it = free.emplace(first, n).first;
    if (auto next = std::next(it); next != free.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free.erase(next);
    }
    if (it != free.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free.erase(it);
      }
    }
  }
};

namespace {

class XenDirectRegion final : public gpu::DirectRegion {
 public:
  XenDirectRegion(std::shared_ptr<XenDirectMemory::Pool> pool, uint64_t first_page, uint64_t pages)
      : pool_(std::move(pool)),
        first_page_(first_page),
        pages_(pages),
        gfn_(pool_->scratch_gfn + first_page) {}
  // place() and unplace() are called by one thread at a time (the vGPU's hardware lock);
  // device_wrote() from any thread.
  XenDirectRegion(const XenDirectRegion&) = delete;
  XenDirectRegion& operator=(const XenDirectRegion&) = delete;
  ~XenDirectRegion() override {
    try {
      unplace();
    } catch (const std::exception& e) {
      spdlog::warn("dom{}: direct region at gfn {:#x} not returned to scratch: {}", pool_->domid.value,
                   gfn_.load(), e.what());
    }
    pool_->give_back(first_page_, pages_);
  }

  std::span<std::byte> host() override {
    return {static_cast<std::byte*>(pool_->mapping.get()) + first_page_ * kPageSize, pages_ * kPageSize};
  }

  void place(uint64_t gpa) override {
    if (gpa % kPageSize != 0) {
      throw Error(fmt::format("direct region: placement {:#x} is not page aligned", gpa));
    }
    const uint64_t gfn = gpa >> kPageShift;
    if (gfn > (uint64_t{1} << 40) - pages_) {
      throw Error(fmt::format("direct region: placement {:#x} beyond guest-physical space", gpa));
    }
    if (gfn == gfn_.load()) {
      return;
    }
    move_to(gfn);
    placed_ = true;
  }

  void unplace() override {
    const uint64_t scratch = pool_->scratch_gfn + first_page_;
    if (gfn_.load() == scratch) {
      return;
    }
    move_to(scratch);
    placed_ = false;
  }

  void device_wrote(uint64_t offset, uint64_t len) noexcept override {
    // A write racing a move is covered either way: move_to() reports the whole region at its
    // new frames after the move.
    pool_->report(gfn_.load(), offset, len);
  }

  void collect_dirty(std::vector<uint64_t>& bitmap) override {
    const size_t words = (pages_ + 63) / 64;
    bitmap.assign(words, 0);
    if (!placed_) {
      return;  // not in the guest's view: the guest cannot have written it
    }
    std::vector<unsigned long> bits((pages_ + 8 * sizeof(unsigned long) - 1) / (8 * sizeof(unsigned long)),
                                    0);
    if (pages_ > UINT32_MAX ||
        xendevicemodel_track_dirty_vram(pool_->dm.get(), pool_->domid.value, gfn_.load(),
                                        static_cast<uint32_t>(pages_), bits.data()) != 0) {
      // Cannot track: say everything changed (the contract for implementations that cannot).
      for (size_t i = 0; i < pages_; ++i) {
        bitmap[i / 64] |= uint64_t{1} << (i % 64);
      }
      return;
    }
    static_assert(sizeof(unsigned long) == sizeof(uint64_t));
    std::memcpy(bitmap.data(), bits.data(), words * sizeof(uint64_t));
  }

 private:
  // Relocation of the frames is not a guest write, so Xen's log-dirty does not see the
  // contents arrive at their new place: report them there, or a live migration in progress may
  // send the old, now empty, frames and never the new ones.
  void move_to(uint64_t gfn) {
    pool_->relocate(gfn_.load(), gfn, pages_);
    gfn_.store(gfn);
    pool_->record_gfn(first_page_, gfn);
    pool_->report(gfn, 0, pages_ * kPageSize);
  }

  std::shared_ptr<XenDirectMemory::Pool> pool_;
  uint64_t first_page_;
  uint64_t pages_;
  std::atomic<uint64_t> gfn_;
  bool placed_ = false;
};

}  // namespace

std::unique_ptr<XenDirectMemory> XenDirectMemory::reserve(DevicemodelHandle dm,
                                                          const ForeignMemoryHandle& fmem,
                                                          std::shared_ptr<DirtyLog> dirty, Domid domid,
                                                          uint64_t scratch_gfn, uint64_t bytes) {
  if (bytes == 0 || bytes % kPageSize != 0) {
    throw Error(
        fmt::format("direct memory budget of {} bytes is not a positive multiple of the page size", bytes));
  }
  const uint64_t pages = bytes / kPageSize;
  const uint64_t populated = pages + 1;  // the guard frame (see the header)
  if (scratch_gfn > UINT64_MAX / 2 - populated) {
    throw Error("direct memory scratch range wraps around");
  }
  const std::string ctx = fmt::format("dom{}: reserving {} MiB of direct memory", domid.value, bytes >> 20);

  std::shared_ptr<xc_interface> xc_owner(xc_interface_open(nullptr, nullptr, 0), [](xc_interface* h) {
    if (h != nullptr) {
      xc_interface_close(h);
    }
  });
  if (!xc_owner) {
    throw SystemError(errno != 0 ? errno : EIO, ctx + ": xc_interface_open");
  }
  xc_interface* xc = xc_owner.get();

  xc_domaininfo_t info{};
  const int n = xc_domain_getinfolist(xc, domid.value, 1, &info);
  check_errno(n, ctx + ": xc_domain_getinfolist");
  if (n != 1 || info.domain != domid.value) {
    throw SystemError(ESRCH, ctx + ": xc_domain_getinfolist");
  }
  const uint64_t old_max_kb = uint64_t{info.max_pages} * (kPageSize / 1024);
  if (scratch_gfn == 0) {
    // Just above anything the guest's RAM can occupy: its RAM above 4 GiB ends below 4 GiB + its
    // page limit, and hvmloader may move up to 2 GiB of it there to widen the MMIO hole. Low, so
    // that a save of the domain (which walks and records every frame up to the highest) stays
    // small: at 960 GiB xl save wrote 8 bytes for each of 250 million empty frames.
    constexpr uint64_t k4GiB = uint64_t{1} << (32 - kPageShift);
    constexpr uint64_t kHoleGuard = uint64_t{2} << (30 - kPageShift);
    constexpr uint64_t kAlign = 512;  // 2 MiB
    scratch_gfn = (k4GiB + uint64_t{info.max_pages} + kHoleGuard + kAlign - 1) / kAlign * kAlign;
  }
  check_errno(xc_domain_setmaxmem(xc, domid.value, old_max_kb + populated * (kPageSize / 1024)),
              ctx + ": xc_domain_setmaxmem");

  std::vector<xen_pfn_t> gfns(populated);
  for (uint64_t i = 0; i < populated; ++i) {
    gfns[i] = scratch_gfn + i;
  }
  if (xc_domain_populate_physmap_exact(xc, domid.value, populated, 0, 0, gfns.data()) != 0) {
    const int e = errno;
    xc_domain_setmaxmem(xc, domid.value, old_max_kb);
    throw SystemError(e, ctx + ": xc_domain_populate_physmap_exact");
  }
  // Gives the pages back and restores the maximum (failed set-up).
  auto undo = [xc_owner, domid, scratch_gfn, populated, old_max_kb] {
    std::vector<xen_pfn_t> again(populated);
    for (uint64_t i = 0; i < populated; ++i) {
      again[i] = scratch_gfn + i;
    }
    if (xc_domain_decrease_reservation_exact(xc_owner.get(), domid.value, populated, 0, again.data()) != 0 ||
        xc_domain_setmaxmem(xc_owner.get(), domid.value, old_max_kb) != 0) {
      spdlog::warn("dom{}: giving back direct memory: {}", domid.value, std::strerror(errno));
    }
  };

  std::vector<int> errs(pages, 0);
  void* addr =
      xenforeignmemory_map(fmem.get(), domid.value, PROT_READ | PROT_WRITE, pages, gfns.data(), errs.data());
  if (addr == nullptr) {
    const int e = errno;
    undo();
    throw SystemError(e, ctx + ": xenforeignmemory_map");
  }
  auto pool = std::make_shared<Pool>();
  pool->mapping = ForeignMapping(fmem, addr, pages);
  for (uint64_t i = 0; i < pages; ++i) {
    if (errs[i] != 0) {
      pool->mapping.reset();
      undo();
      throw SystemError(errs[i], fmt::format("{}: xenforeignmemory_map of gfn {:#x}", ctx, scratch_gfn + i));
    }
  }
  pool->dm = std::move(dm);
  pool->dirty = std::move(dirty);
  pool->domid = domid;
  pool->scratch_gfn = scratch_gfn;
  pool->pages = pages;
  pool->free.emplace(0, pages);
  return std::make_unique<XenDirectMemory>(std::move(pool), std::move(undo));
}

std::unique_ptr<XenDirectMemory> XenDirectMemory::adopt(DevicemodelHandle dm, const ForeignMemoryHandle& fmem,
                                                        std::shared_ptr<DirtyLog> dirty, Domid domid,
                                                        const DirectLayout& saved) {
  const std::string ctx = fmt::format("dom{}: adopting {} MiB of direct memory at gfn {:#x}", domid.value,
                                      (saved.pages * kPageSize) >> 20, saved.scratch_gfn);
  if (saved.pages == 0 || saved.scratch_gfn > UINT64_MAX / 2 - saved.pages) {
    throw Error(ctx + ": the saved layout has no pool or one that wraps around");
  }
  auto pool = std::make_shared<Pool>();
  pool->dm = std::move(dm);
  pool->dirty = std::move(dirty);
  pool->domid = domid;
  pool->scratch_gfn = saved.scratch_gfn;
  pool->pages = saved.pages;
  // Regions the guest had placed at a BAR go back to their scratch frames; the vGPUs' restore
  // places them again once their config space is back.
  for (const auto& r : saved.regions) {
    if (r.first_page > saved.pages || r.pages > saved.pages - r.first_page) {
      throw Error(fmt::format("{}: a saved region at page {} of {} pages lies outside the pool", ctx,
                              r.first_page, r.pages));
    }
    const uint64_t home = saved.scratch_gfn + r.first_page;
    if (r.gfn != home) {
      try {
        pool->relocate(r.gfn, home, r.pages);
      } catch (const std::exception& e) {
        throw Error(
            fmt::format("{}: the saved domain's VRAM at gfn {:#x} ({} pages) is not there (is this the "
                        "domain restored from that state?): {}",
                        ctx, r.gfn, r.pages, e.what()));
      }
    }
  }
  std::vector<xen_pfn_t> gfns(saved.pages);
  for (uint64_t i = 0; i < saved.pages; ++i) {
    gfns[i] = saved.scratch_gfn + i;
  }
  std::vector<int> errs(saved.pages, 0);
  void* addr = xenforeignmemory_map(fmem.get(), domid.value, PROT_READ | PROT_WRITE, saved.pages, gfns.data(),
                                    errs.data());
  if (addr == nullptr) {
    throw SystemError(errno, ctx + ": xenforeignmemory_map");
  }
  pool->mapping = ForeignMapping(fmem, addr, saved.pages);
  for (uint64_t i = 0; i < saved.pages; ++i) {
    if (errs[i] != 0) {
      throw SystemError(errs[i],
                        fmt::format("{}: the domain has no page at gfn {:#x} (not restored from that "
                                    "state?)",
                                    ctx, saved.scratch_gfn + i));
    }
  }
  pool->free.emplace(0, saved.pages);
  // The memory was the domain's before this process: nothing to give back on failure.
  return std::make_unique<XenDirectMemory>(std::move(pool), std::function<void()>{});
}

DirectLayout XenDirectMemory::layout() const {
  std::lock_guard lock(pool_->mu);
  DirectLayout out{pool_->scratch_gfn, pool_->pages, {}};
  for (const auto& [first, r] : pool_->regions) {
    out.regions.push_back(r);
  }
  return out;
}

XenDirectMemory::~XenDirectMemory() {
  if (undo_) {
    pool_->mapping.reset();  // our mapping holds references to the pages
    undo_();
  }
}

std::unique_ptr<gpu::DirectRegion> XenDirectMemory::allocate(uint64_t size) {
  if (size == 0 || size % kPageSize != 0) {
    throw Error(fmt::format("direct memory: {} bytes is not a positive multiple of the page size", size));
  }
  const uint64_t pages = size / kPageSize;
  uint64_t first = 0;
  {
    std::lock_guard lock(pool_->mu);
    auto it = pool_->free.begin();
    while (it != pool_->free.end() && it->second < pages) {
      ++it;
    }
    if (it == pool_->free.end()) {
      throw Error(fmt::format("direct memory: no room for {} MiB (budget {} MiB, set at start-up)",
                              size >> 20, (pool_->pages * kPageSize) >> 20));
    }
    first = it->first;
    const uint64_t rest = it->second - pages;
    pool_->free.erase(it);
    if (rest != 0) {
      pool_->free.emplace(first + pages, rest);
    }
    pool_->regions[first] = DirectRegionPlacement{first, pages, pool_->scratch_gfn + first};
  }
  return std::make_unique<XenDirectRegion>(pool_, first, pages);
}

void XenDirectMemory::domain_gone() noexcept {
  pool_->domain_gone.store(true);
}

uint64_t XenDirectMemory::free_bytes() const {
  std::lock_guard lock(pool_->mu);
  uint64_t n = 0;
  for (const auto& [first, count] : pool_->free) {
    n += count;
  }
  return n * kPageSize;
}

}  // namespace xvgpu::ioreq
