#include "ioreq/map_cache.h"

#include <fmt/format.h>

#include <cstring>

#include "gpu/platform.h"

namespace xvgpu::ioreq {

struct MapCache::Mapping {
  std::shared_ptr<PageMapper> mapper;
  std::shared_ptr<std::atomic<size_t>> live;
  std::byte* base = nullptr;
  size_t pages = 0;
  uint64_t first_gfn = 0;
  std::vector<int> errs;

  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (base != nullptr) {
      mapper->unmap(base, pages);
      live->fetch_sub(1);
    }
  }
  // The errno of the first unusable page among [first, last] (absolute gfns), or 0.
  [[nodiscard]] int error_in(uint64_t first, uint64_t last, uint64_t& bad_gfn) const {
    for (uint64_t g = first; g <= last; ++g) {
      if (const int e = errs[g - first_gfn]; e != 0) {
        bad_gfn = g;
        return e;
      }
    }
    return 0;
  }
};

namespace {
constexpr unsigned kPageShift = 12;
[[noreturn]] void refuse(uint64_t gpa, int err, const std::string& what) {
  throw gpu::GuestMemoryError(gpa, fmt::format("guest memory at {:#x}: {}{}{}", gpa, what, err ? ": " : "",
                                               err ? std::strerror(err) : ""));
}
}  // namespace

MapCache::MapCache(std::shared_ptr<PageMapper> mapper, MapCacheOptions options)
    : mapper_(std::move(mapper)), options_(options) {
  if (options_.bucket_shift < kPageShift || options_.bucket_shift > 30) {
    options_.bucket_shift = 20;
  }
  if (options_.max_buckets == 0) {
    options_.max_buckets = 1;
  }
}

MapCache::~MapCache() = default;

std::shared_ptr<MapCache::Mapping> MapCache::make_mapping(uint64_t first_gfn, size_t pages,
                                                          uint64_t gpa_for_error) {
  std::vector<uint64_t> gfns(pages);
  for (size_t i = 0; i < pages; ++i) {
    gfns[i] = first_gfn + i;
  }
  auto m = std::make_shared<Mapping>();
  m->errs.assign(pages, 0);
  errno = 0;
  void* addr = mapper_->map(gfns, m->errs);
  if (addr == nullptr) {
    refuse(gpa_for_error, errno != 0 ? errno : EFAULT, "cannot map");
  }
  m->mapper = mapper_;
  m->live = live_;
  m->base = static_cast<std::byte*>(addr);
  m->pages = pages;
  m->first_gfn = first_gfn;
  live_->fetch_add(1);
  return m;
}

std::shared_ptr<MapCache::Mapping> MapCache::bucket_for(uint64_t bucket, uint64_t first_page,
                                                        uint64_t last_page, uint64_t gpa) {
  const unsigned page_bits = options_.bucket_shift - kPageShift;
  std::lock_guard lock(mu_);
  auto it = buckets_.find(bucket);
  uint64_t bad = 0;
  if (it != buckets_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    const int err = it->second.mapping->error_in(first_page, last_page, bad);
    if (err == 0) {
      ++counters_.hits;
      return it->second.mapping;
    }
    // The page may have been populated since: retry once with a fresh mapping. A pinned old
    // mapping stays with its pins.
    lru_.erase(it->second.lru);
    buckets_.erase(it);
  }
  ++counters_.misses;
  auto m = make_mapping(bucket << page_bits, size_t{1} << page_bits, gpa);
  if (const int err = m->error_in(first_page, last_page, bad); err != 0) {
    // Keep the partial mapping cached: its good pages serve other ranges.
    lru_.push_front(bucket);
    buckets_.emplace(bucket, Slot{m, lru_.begin()});
    evict_locked();
    refuse(bad << kPageShift, err, "page not mapped");
  }
  lru_.push_front(bucket);
  buckets_.emplace(bucket, Slot{m, lru_.begin()});
  evict_locked();
  return m;
}

void MapCache::evict_locked() {
  auto it = lru_.end();
  while (buckets_.size() > options_.max_buckets && it != lru_.begin()) {
    --it;
    auto slot = buckets_.find(*it);
    if (slot->second.mapping.use_count() > 1) {
      continue;  // pinned by a DMA in flight
    }
    buckets_.erase(slot);
    it = lru_.erase(it);
    ++counters_.evictions;
  }
}

MapCache::Pin MapCache::pin(uint64_t gpa, uint64_t len) {
  Pin pin;
  pin.gpa_ = gpa;
  if (len == 0) {
    return pin;
  }
  if (gpa > UINT64_MAX - (len - 1)) {
    refuse(gpa, 0, fmt::format("range of {} bytes wraps around", len));
  }
  const uint64_t last = gpa + len - 1;
  const uint64_t bucket = gpa >> options_.bucket_shift;
  if (bucket == last >> options_.bucket_shift) {
    pin.mapping_ = bucket_for(bucket, gpa >> kPageShift, last >> kPageShift, gpa);
  } else {
    if (len > options_.max_uncached_bytes) {
      refuse(gpa, 0, fmt::format("range of {} bytes is too large to map", len));
    }
    const uint64_t first_gfn = gpa >> kPageShift;
    auto m = make_mapping(first_gfn, (last >> kPageShift) - first_gfn + 1, gpa);
    uint64_t bad = 0;
    if (const int err = m->error_in(first_gfn, last >> kPageShift, bad); err != 0) {
      refuse(bad << kPageShift, err, "page not mapped");
    }
    pin.mapping_ = std::move(m);
    std::lock_guard lock(mu_);
    ++counters_.uncached;
  }
  const uint64_t offset = gpa - (pin.mapping_->first_gfn << kPageShift);
  pin.bytes_ = std::span<std::byte>(pin.mapping_->base + offset, len);
  return pin;
}

void MapCache::invalidate() {
  std::lock_guard lock(mu_);
  buckets_.clear();  // pinned mappings live on in their pins and are unmapped with the last one
  lru_.clear();
  ++counters_.invalidations;
}

MapCache::Counters MapCache::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

size_t MapCache::cached_buckets() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace xvgpu::ioreq
