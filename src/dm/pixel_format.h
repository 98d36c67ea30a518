// The scan-out formats xvgpu-dm shows (screenshot, console): DRM fourccs, little-endian words.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xvgpu::dm {

constexpr uint32_t fourcc(char a, char b, char c, char d) {
  return static_cast<uint32_t>(static_cast<uint8_t>(a)) |
         static_cast<uint32_t>(static_cast<uint8_t>(b)) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(c)) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(d)) << 24;
}

// 0 for a format not shown.
inline unsigned bytes_per_pixel(uint32_t f) {
  if (f == fourcc('X', 'R', '2', '4') || f == fourcc('A', 'R', '2', '4')) return 4;
  if (f == fourcc('R', 'G', '2', '4') || f == fourcc('B', 'G', '2', '4')) return 3;
  if (f == fourcc('R', 'G', '1', '6')) return 2;
  return 0;
}

// One pixel of the surface as R, G, B.
inline void to_rgb(uint32_t f, const std::byte* p, uint8_t* out) {
  const auto b = [&](int i) { return static_cast<uint8_t>(p[i]); };
  if (f == fourcc('R', 'G', '1', '6')) {
    const unsigned v = b(0) | b(1) << 8;
    out[0] = static_cast<uint8_t>((v >> 11 & 0x1f) * 255 / 31);
    out[1] = static_cast<uint8_t>((v >> 5 & 0x3f) * 255 / 63);
    out[2] = static_cast<uint8_t>((v & 0x1f) * 255 / 31);
  } else if (f == fourcc('B', 'G', '2', '4')) {  // [23:0] B:G:R little endian: bytes R, G, B
    out[0] = b(0);
    out[1] = b(1);
    out[2] = b(2);
  } else {  // XR24 / AR24 / RG24: bytes B, G, R[, X]
    out[0] = b(2);
    out[1] = b(1);
    out[2] = b(0);
  }
}

}  // namespace xvgpu::dm
