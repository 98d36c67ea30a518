#include "gpu/display_damage.h"

#include <algorithm>
#include <cerrno>

namespace xvgpu::gpu {

namespace {

Rect bounding(const Rect& a, const Rect& b) {
  const uint64_t x0 = std::min(a.x, b.x);
  const uint64_t y0 = std::min(a.y, b.y);
  const uint64_t x1 = std::max(uint64_t{a.x} + a.width, uint64_t{b.x} + b.width);
  const uint64_t y1 = std::max(uint64_t{a.y} + a.height, uint64_t{b.y} + b.height);
  return {static_cast<uint32_t>(x0), static_cast<uint32_t>(y0),
          static_cast<uint32_t>(std::min<uint64_t>(x1 - x0, UINT32_MAX)),
          static_cast<uint32_t>(std::min<uint64_t>(y1 - y0, UINT32_MAX))};
}

}  // namespace

int DisplayDamage::record(const xvgpu_display_damage* damage) noexcept {
  if (damage == nullptr || damage->struct_size < XVGPU_DISPLAY_DAMAGE_MIN_SIZE || damage->head >= kMaxHeads ||
      (damage->flags & ~XVGPU_DAMAGE_SURFACE_CHANGED) != 0 || damage->num_rects > XVGPU_DAMAGE_MAX_RECTS ||
      (damage->num_rects != 0 && damage->rects == nullptr)) {
    return -EINVAL;
  }
  try {
    std::lock_guard lock(mu_);
    HeadDamage& h = heads_[damage->head];
    if ((damage->flags & XVGPU_DAMAGE_SURFACE_CHANGED) != 0) {
      h.surface_changed = true;
      h.rects.clear();  // the whole head is redrawn anyway
    }
    if (!h.surface_changed) {
      for (uint32_t i = 0; i < damage->num_rects; ++i) {
        const xvgpu_rect& r = damage->rects[i];
        if (r.width == 0 || r.height == 0) continue;
        const Rect rect{r.x, r.y, r.width, r.height};
        if (h.rects.size() < kMaxRects) {
          h.rects.push_back(rect);
        } else {
          Rect all = rect;
          for (const Rect& o : h.rects) all = bounding(all, o);
          h.rects.assign(1, all);
        }
      }
    }
  } catch (...) {
    return -ENOMEM;
  }
  return 0;
}

HeadDamage DisplayDamage::take(uint32_t head) {
  std::lock_guard lock(mu_);
  auto it = heads_.find(head);
  if (it == heads_.end()) return {};
  HeadDamage out = std::move(it->second);
  heads_.erase(it);
  return out;
}

}  // namespace xvgpu::gpu
