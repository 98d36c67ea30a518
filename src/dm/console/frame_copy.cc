#include "dm/console/frame_copy.h"

#include "dm/pixel_format.h"

namespace xvgpu::dm {

bool copy_to_framebuffer(const gpu::DisplaySurface& s, const gpu::Rect& r, std::span<uint32_t> fb) {
  const unsigned bpp = bytes_per_pixel(s.fourcc);
  if (bpp == 0) return false;
  const bool xrgb = s.fourcc == fourcc('X', 'R', '2', '4') || s.fourcc == fourcc('A', 'R', '2', '4');
  for (uint32_t y = r.y; y < r.y + r.height; ++y) {
    const std::byte* src = s.pixels.data() + uint64_t{y} * s.stride + uint64_t{r.x} * bpp;
    uint32_t* dst = fb.data() + uint64_t{y} * s.width + r.x;
    if (xrgb) {  // the common case, without a per-pixel branch
      for (uint32_t x = 0; x < r.width; ++x, src += 4) {
        dst[x] = framebuffer_pixel(static_cast<uint8_t>(src[2]), static_cast<uint8_t>(src[1]),
                                   static_cast<uint8_t>(src[0]));
      }
      continue;
    }
    for (uint32_t x = 0; x < r.width; ++x, src += bpp) {
      uint8_t rgb[3];
      to_rgb(s.fourcc, src, rgb);
      dst[x] = framebuffer_pixel(rgb[0], rgb[1], rgb[2]);
    }
  }
  return true;
}

}  // namespace xvgpu::dm
