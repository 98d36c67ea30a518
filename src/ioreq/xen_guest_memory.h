// gpu::GuestMemory on Xen: copies and pinned mappings of guest RAM through the map cache;
// every device write is reported to Xen's dirty log (see dirty_log.h).
#pragma once

#include <memory>

#include "gpu/platform.h"
#include "ioreq/dirty_log.h"
#include "ioreq/map_cache.h"

namespace xvgpu::ioreq {

class XenGuestMemory final : public gpu::GuestMemory {
 public:
  XenGuestMemory(std::shared_ptr<MapCache> cache, std::shared_ptr<DirtyLog> dirty)
      : cache_(std::move(cache)), dirty_(std::move(dirty)) {}

  void read(uint64_t gpa, std::span<std::byte> out) override;
  void write(uint64_t gpa, std::span<const std::byte> in) override;
  // One pin per call: for scatter-gather, map each element; an element inside one bucket
  // (1 MiB by default) costs a lookup, not a hypercall, after first use.
  std::unique_ptr<gpu::GuestMapping> map(uint64_t gpa, uint64_t len, bool writable) override;
  // Nothing at or above 2^52 (x86's widest physical address) is memory: refused without a
  // hypercall. Below it, only the mapping can tell.
  [[nodiscard]] bool may_hold(uint64_t gpa, uint64_t len) const noexcept override {
    constexpr uint64_t kPhysLimit = uint64_t{1} << 52;
    return len <= kPhysLimit && gpa <= kPhysLimit - len;
  }

  [[nodiscard]] MapCache& cache() { return *cache_; }

 private:
  // Calls fn(pin) for consecutive pieces of [gpa, gpa+len) that do not straddle a bucket.
  template <typename Fn>
  void for_each_piece(uint64_t gpa, uint64_t len, Fn&& fn);

  std::shared_ptr<MapCache> cache_;
  std::shared_ptr<DirtyLog> dirty_;
};

}  // namespace xvgpu::ioreq
