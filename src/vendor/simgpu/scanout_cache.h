// The scanned-out frame in RGB, kept between scan-outs so that only rows whose VRAM pages
// changed (guest writes from the dirty log, engine writes from VramDirtyMap) are converted
// again. A new mode, offset or format converts the whole frame.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vendor/simgpu/scanout.h"

namespace xvgpu::simgpu {

// A frame as 8-bit R, G, B triplets, row after row.
struct RgbFrame {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> rgb;
};

class ScanoutCache {
 public:
  // Brings the frame up to date; dirty has one bit per 4 KiB VRAM page. Returns the number of
  // rows converted. The surface must have passed check_scanout().
  uint32_t refresh(const ScanoutSurface& surface, std::span<const std::byte> vram,
                   const DisplayRegisters& display, std::span<const uint64_t> dirty);
  [[nodiscard]] const std::vector<uint8_t>& rgb() const { return rgb_; }
  void invalidate() { valid_ = false; }

 private:
  ScanoutSurface surface_;
  bool valid_ = false;
  std::vector<uint8_t> rgb_;
};

}  // namespace xvgpu::simgpu
