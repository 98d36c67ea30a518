#include "vendor/simgpu/scanout_cache.h"

namespace xvgpu::simgpu {

namespace {
bool page_dirty(std::span<const uint64_t> dirty, uint64_t page) {
  return page / 64 >= dirty.size() || (dirty[page / 64] >> (page % 64) & 1) != 0;
}
}  // namespace

uint32_t ScanoutCache::refresh(const ScanoutSurface& s, std::span<const std::byte> vram,
                               const DisplayRegisters& display, std::span<const uint64_t> dirty) {
  // 8 bpp goes through the DAC palette, whose changes are not tracked: always convert.
  if (!valid_ || !(s == surface_) || s.fourcc == kFourccC8) {
    rgb_.assign(size_t{s.width} * s.height * 3, 0);
    convert_rows(s, vram, display, 0, s.height, rgb_);
    surface_ = s;
    valid_ = true;
    return s.height;
  }
  constexpr uint64_t kPage = 4096;
  const uint64_t row_bytes = uint64_t{s.width} * s.bytes_per_pixel;
  uint32_t converted = 0;
  for (uint32_t y = 0; y < s.height; ++y) {
    const uint64_t first = s.offset + uint64_t{y} * s.stride;
    bool changed = false;
    for (uint64_t p = first / kPage; p <= (first + row_bytes - 1) / kPage && !changed; ++p)
      changed = page_dirty(dirty, p);
    if (!changed) continue;
    convert_rows(s, vram, display, y, y + 1, rgb_);
    ++converted;
  }
  return converted;
}

}  // namespace xvgpu::simgpu
