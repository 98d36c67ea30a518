// A cache of mappings of guest memory, for device DMA.
//
// Guest RAM is mapped in aligned buckets (2^bucket_shift bytes) on first use and kept, least
// recently used evicted first beyond max_buckets. A caller pins the range it uses; a pinned
// bucket is never evicted, and invalidate() (Xen's INVALIDATE: the guest's memory map
// changed) drops every bucket from the cache at once while pinned ones stay mapped until
// their last pin is released. Per-page mapping errors are honoured: a range touching a page
// that failed to map is refused (GuestMemoryError), after one fresh retry.
// A range that straddles buckets gets its own exact, uncached mapping.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "ioreq/page_mapper.h"

namespace xvgpu::ioreq {

struct MapCacheOptions {
  unsigned bucket_shift = 20;                        // 1 MiB buckets
  size_t max_buckets = 256;                          // unpinned buckets kept mapped
  uint64_t max_uncached_bytes = uint64_t{64} << 20;  // largest single bucket-straddling pin
};

class MapCache {
 public:
  struct Mapping;  // one mapped run of guest frames (internal)

  // A pinned guest range; the bytes stay valid while it lives.
  class Pin {
   public:
    Pin() = default;
    [[nodiscard]] std::span<std::byte> bytes() const { return bytes_; }
    [[nodiscard]] uint64_t gpa() const { return gpa_; }

   private:
    friend class MapCache;
    std::shared_ptr<Mapping> mapping_;
    std::span<std::byte> bytes_;
    uint64_t gpa_ = 0;
  };

  struct Counters {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;
    uint64_t invalidations = 0;
    uint64_t uncached = 0;
  };

  MapCache(std::shared_ptr<PageMapper> mapper, MapCacheOptions options = {});
  ~MapCache();
  MapCache(const MapCache&) = delete;
  MapCache& operator=(const MapCache&) = delete;

  // Throws gpu::GuestMemoryError when [gpa, gpa+len) wraps, is too large, or touches a page
  // that cannot be mapped.
  Pin pin(uint64_t gpa, uint64_t len);
  void invalidate();

  [[nodiscard]] uint64_t bucket_bytes() const { return uint64_t{1} << options_.bucket_shift; }
  [[nodiscard]] Counters counters() const;
  [[nodiscard]] size_t cached_buckets() const;
  // Mappings currently alive, cached or held only by pins (for tests and leak checks).
  [[nodiscard]] size_t live_mappings() const { return live_->load(); }

 private:
  std::shared_ptr<Mapping> make_mapping(uint64_t first_gfn, size_t pages, uint64_t gpa_for_error);
  std::shared_ptr<Mapping> bucket_for(uint64_t bucket, uint64_t first_page, uint64_t last_page, uint64_t gpa);
  void evict_locked();

  struct Slot {
    std::shared_ptr<Mapping> mapping;
    std::list<uint64_t>::iterator lru;
  };

  std::shared_ptr<PageMapper> mapper_;
  MapCacheOptions options_;
  std::shared_ptr<std::atomic<size_t>> live_ = std::make_shared<std::atomic<size_t>>(0);
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Slot> buckets_;
  std::list<uint64_t> lru_;  // front = most recently used
  Counters counters_;
};

}  // namespace xvgpu::ioreq
