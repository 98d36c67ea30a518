// A vGPU's display surface as a PNG file in memory, for the control protocol's screenshot.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace xvgpu::dm {

struct SurfaceImage {
  uint32_t fourcc = 0;  // DRM fourcc: XR24, AR24, RG16, RG24, BG24
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t stride = 0;  // bytes per line
  std::span<const std::byte> pixels;
};

// Throws Error for an unsupported format or a surface that does not fit its pixel buffer.
std::string encode_png(const SurfaceImage& image);

}  // namespace xvgpu::dm
