// The current scan-out as a PNG image (libpng), pixel for pixel what the guest drew.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace xvgpu::simgpu {

// Encodes width x height 8-bit RGB triplets. Throws xvgpu::Error when libpng fails.
std::vector<uint8_t> encode_png_rgb(std::span<const uint8_t> rgb, uint32_t width, uint32_t height);

}  // namespace xvgpu::simgpu
