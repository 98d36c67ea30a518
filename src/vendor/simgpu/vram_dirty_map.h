// Pages of VRAM the engine wrote. The guest's own framebuffer writes are tracked by the core
// (host->direct_bar_dirty()); engine writes do not go through the guest's mapping, so the
// engine reports them here, and the scan-out merges both before refreshing its frame.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace xvgpu::simgpu {

class VramDirtyMap {
 public:
  static constexpr uint64_t kPageSize = 4096;
  explicit VramDirtyMap(uint64_t vram_size) : words_((vram_size / kPageSize + 63) / 64) {}

  [[nodiscard]] size_t words() const { return words_.size(); }

  // Called after each mark() (the device reports it to the core: display damage and the dirty
  // log). Set once,
  // before any writer runs.
  void set_observer(std::function<void(uint64_t offset, uint64_t length)> observer) {
    observer_ = std::move(observer);
  }

  // Thread-safe; ranges beyond VRAM are cut off.
  void mark(uint64_t offset, uint64_t length) {
    if (length == 0) return;
    const uint64_t first = offset / kPageSize;
    const uint64_t last = std::min<uint64_t>((offset + length - 1) / kPageSize, words_.size() * 64 - 1);
    for (uint64_t p = first; p <= last; ++p)
      words_[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
    if (observer_) observer_(offset, length);
  }

  // ORs the marked pages into bitmap (one bit per page) and clears them here.
  void drain_into(std::span<uint64_t> bitmap) {
    for (size_t w = 0; w < words_.size() && w < bitmap.size(); ++w) {
      bitmap[w] |= words_[w].exchange(0, std::memory_order_relaxed);
    }
  }

 private:
  std::vector<std::atomic<uint64_t>> words_;
  std::function<void(uint64_t, uint64_t)> observer_;
};

}  // namespace xvgpu::simgpu
