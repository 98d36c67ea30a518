#include "ioreq/map_cache.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "gpu/platform.h"

namespace xvgpu::ioreq {
namespace {

// Maps "guest frames" by copying nothing: every gfn has a fixed backing page, and a mapping
// is a fresh buffer whose pages alias... simpler: a mapping is a buffer filled from the
// backing store, and writes are flushed back on unmap. Enough to check the cache's logic.
class FakeMapper : public PageMapper {
 public:
  explicit FakeMapper(uint64_t ram_pages) : ram(ram_pages * 4096) {}
  std::vector<std::byte> ram;
  std::set<uint64_t> bad;  // gfns that fail to map
  int maps = 0;
  int unmaps = 0;
  std::map<void*, std::pair<std::vector<uint64_t>, std::unique_ptr<std::byte[]>>> live;

  void* map(std::span<const uint64_t> gfns, std::span<int> errs) override {
    ++maps;
    auto buf = std::make_unique<std::byte[]>(gfns.size() * 4096);
    for (size_t i = 0; i < gfns.size(); ++i) {
      const bool ok = !bad.contains(gfns[i]) && gfns[i] < ram.size() / 4096;
      errs[i] = ok ? 0 : ENOENT;
      if (ok) std::memcpy(buf.get() + i * 4096, ram.data() + gfns[i] * 4096, 4096);
    }
    void* p = buf.get();
    live[p] = {std::vector<uint64_t>(gfns.begin(), gfns.end()), std::move(buf)};
    return p;
  }
  void unmap(void* addr, size_t pages) noexcept override {
    ++unmaps;
    auto it = live.find(addr);
    if (it == live.end() || it->second.first.size() != pages) std::abort();
    for (size_t i = 0; i < pages; ++i) {
      const uint64_t g = it->second.first[i];
      if (!bad.contains(g) && g < ram.size() / 4096)
        std::memcpy(ram.data() + g * 4096, it->second.second.get() + i * 4096, 4096);
    }
    live.erase(it);
  }
};

MapCacheOptions small() {
  MapCacheOptions o;
  o.bucket_shift = 14;  // 4 pages per bucket
  o.max_buckets = 2;
  o.max_uncached_bytes = 64 * 1024;
  return o;
}

TEST(MapCache, HitsReuseTheBucketMapping) {
  auto m = std::make_shared<FakeMapper>(64);
  MapCache cache(m, small());
  { auto p = cache.pin(0x1000, 16); }
  { auto p = cache.pin(0x3ff0, 16); }  // same 16 KiB bucket
  EXPECT_EQ(m->maps, 1);
  EXPECT_EQ(cache.counters().hits, 1u);
  EXPECT_EQ(cache.counters().misses, 1u);
}

TEST(MapCache, EvictsLeastRecentlyUsedUnpinnedBuckets) {
  auto m = std::make_shared<FakeMapper>(64);
  MapCache cache(m, small());
  { auto a = cache.pin(0x0000, 8); }
  { auto b = cache.pin(0x4000, 8); }
  { auto a = cache.pin(0x0000, 8); }  // bucket 0 now most recent
  { auto c = cache.pin(0x8000, 8); }  // evicts bucket 1
  EXPECT_EQ(cache.cached_buckets(), 2u);
  EXPECT_EQ(cache.counters().evictions, 1u);
  { auto a = cache.pin(0x0000, 8); }
  EXPECT_EQ(cache.counters().hits, 2u);
  EXPECT_EQ(m->maps, 3);
}

TEST(MapCache, PinnedBucketsAreNeverEvicted) {
  auto m = std::make_shared<FakeMapper>(64);
  MapCache cache(m, small());
  auto a = cache.pin(0x0000, 8);
  auto b = cache.pin(0x4000, 8);
  auto c = cache.pin(0x8000, 8);  // nothing evictable: the cache grows past its limit
  EXPECT_EQ(cache.cached_buckets(), 3u);
  EXPECT_EQ(m->unmaps, 0);
  std::memset(a.bytes().data(), 0x5a, 8);
}

TEST(MapCache, InvalidateKeepsPinnedMappingsUntilReleased) {
  auto m = std::make_shared<FakeMapper>(64);
  MapCache cache(m, small());
  auto dma = cache.pin(0x2000, 64);
  { auto other = cache.pin(0x4000, 8); }
  cache.invalidate();
  EXPECT_EQ(cache.cached_buckets(), 0u);
  EXPECT_EQ(m->unmaps, 1);                    // the unpinned bucket went at once
  std::memset(dma.bytes().data(), 0x77, 64);  // still mapped: a DMA in flight finishes
  EXPECT_EQ(cache.live_mappings(), 1u);
  { auto again = cache.pin(0x2000, 64); }  // a new lookup maps afresh
  EXPECT_EQ(m->maps, 3);
  dma = MapCache::Pin();
  EXPECT_EQ(cache.live_mappings(), 1u);  // only the new cached one
  EXPECT_EQ(static_cast<int>(m->ram[0x2000]), 0x77);
}

TEST(MapCache, PerPageErrorsAreHonoured) {
  auto m = std::make_shared<FakeMapper>(64);
  m->bad.insert(1);
  MapCache cache(m, small());
  EXPECT_NO_THROW({ auto p = cache.pin(0x0000, 4096); });  // page 0 fine in a bucket whose page 1 failed
  EXPECT_NO_THROW({ auto p = cache.pin(0x2000, 8192); });
  try {
    auto p = cache.pin(0x0ff0, 32);
    FAIL() << "pinned a failed page";
  } catch (const gpu::GuestMemoryError& e) {
    EXPECT_EQ(e.gpa(), 0x1000u);
  }
  m->bad.clear();  // the page became RAM: the next pin retries the mapping
  EXPECT_NO_THROW({ auto p = cache.pin(0x0ff0, 32); });
}

TEST(MapCache, StraddlingRangesGetExactUncachedMappings) {
  auto m = std::make_shared<FakeMapper>(64);
  MapCache cache(m, small());
  {
    auto p = cache.pin(0x3000, 0x2000);  // buckets 0 and 1
    EXPECT_EQ(p.bytes().size(), 0x2000u);
    EXPECT_EQ(cache.cached_buckets(), 0u);
    EXPECT_EQ(m->live.begin()->second.first.size(), 2u);
  }
  EXPECT_EQ(m->unmaps, 1);
  EXPECT_THROW(cache.pin(0x3000, 1 << 20), gpu::GuestMemoryError);  // beyond max_uncached_bytes
  EXPECT_THROW(cache.pin(~uint64_t{0} - 4, 16), gpu::GuestMemoryError);
  m->bad.insert(40);
  EXPECT_THROW(cache.pin(0x27000, 0x2000), gpu::GuestMemoryError);
  EXPECT_EQ(m->live.size(), 0u);  // the failed exact mapping was released
}

TEST(MapCache, OutstandingPinsOutliveTheCache) {
  auto m = std::make_shared<FakeMapper>(64);
  MapCache::Pin pin;
  {
    MapCache cache(m, small());
    pin = cache.pin(0x1000, 8);
  }
  EXPECT_EQ(m->unmaps, 0);
  pin = MapCache::Pin();
  EXPECT_EQ(m->unmaps, 1);
}

}  // namespace
}  // namespace xvgpu::ioreq
