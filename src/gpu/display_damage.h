// What a vendor reported as changed on its display heads (ABI 1.2 host->display_damage), kept
// until the console takes it. Bounded: beyond kMaxRects rectangles a head's damage collapses into
// its bounding rectangle. Thread-safe and a leaf lock: vendors report from callbacks (instance
// lock held) and worker jobs alike.
#pragma once

#include <xvgpu/vendor.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace xvgpu::gpu {

struct Rect {
  uint32_t x = 0;
  uint32_t y = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  bool operator==(const Rect&) const = default;
};

struct HeadDamage {
  bool surface_changed = false;
  std::vector<Rect> rects;  // unclipped: the reader clips to the surface it sees
};

class DisplayDamage {
 public:
  static constexpr size_t kMaxRects = 64;
  static constexpr uint32_t kMaxHeads = 16;

  // Validates and records one report; -EINVAL (nothing recorded) when it is malformed.
  int record(const xvgpu_display_damage* damage) noexcept;
  // Everything recorded for `head` since the last take, and forgets it.
  HeadDamage take(uint32_t head);

 private:
  std::mutex mu_;
  std::map<uint32_t, HeadDamage> heads_;
};

}  // namespace xvgpu::gpu
