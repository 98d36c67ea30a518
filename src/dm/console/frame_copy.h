// Copies part of a vGPU's scan-out (live VRAM, any shown format) into the console's
// framebuffer: 32-bit pixels, red in the low byte (libvncserver's default true-colour format),
// with the same colour expansion as the screenshot's PNG.
#pragma once

#include <cstdint>
#include <span>

#include "gpu/vgpu.h"

namespace xvgpu::dm {

// Packs R, G, B as the framebuffer holds them.
constexpr uint32_t framebuffer_pixel(uint8_t r, uint8_t g, uint8_t b) {
  return uint32_t{r} | uint32_t{g} << 8 | uint32_t{b} << 16;
}

// rect must lie inside the surface and fb hold surface.width * surface.height pixels (the
// caller checks both); a format the console does not show copies nothing and returns false.
bool copy_to_framebuffer(const gpu::DisplaySurface& surface, const gpu::Rect& rect, std::span<uint32_t> fb);

}  // namespace xvgpu::dm
