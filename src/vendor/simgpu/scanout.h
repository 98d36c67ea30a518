// What the simgpu display shows: the scan-out surface derived from the DISPI mode, the VGA
// blank state and the framebuffer endianness, and its conversion to 8-bit RGB pixels.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vendor/simgpu/display_registers.h"

namespace xvgpu::simgpu {

// DRM fourcc codes of the formats the display can scan out.
constexpr uint32_t fourcc(char a, char b, char c, char d) {
  return static_cast<uint32_t>(static_cast<uint8_t>(a)) |
         static_cast<uint32_t>(static_cast<uint8_t>(b)) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(c)) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(d)) << 24;
}
inline constexpr uint32_t kFourccXrgb8888 = fourcc('X', 'R', '2', '4');  // 32 bpp, bytes B G R X
inline constexpr uint32_t kFourccBgrx8888 =
    fourcc('B', 'X', '2', '4');  // 32 bpp, bytes X R G B (big endian fb)
inline constexpr uint32_t kFourccRgb888 = fourcc('R', 'G', '2', '4');    // 24 bpp, bytes B G R
inline constexpr uint32_t kFourccRgb565 = fourcc('R', 'G', '1', '6');    // 16 bpp little endian
inline constexpr uint32_t kFourccXrgb1555 = fourcc('X', 'R', '1', '5');  // 15 bpp little endian
inline constexpr uint32_t kFourccC8 = fourcc('C', '8', ' ', ' ');        // 8 bpp through the DAC palette

struct ScanoutSurface {
  bool enabled = false;  // DISPI enabled and the screen not blanked
  uint32_t fourcc = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t stride = 0;
  uint32_t bytes_per_pixel = 0;
  uint64_t offset = 0;  // first pixel in VRAM
  bool operator==(const ScanoutSurface&) const = default;
};

ScanoutSurface current_scanout(const DisplayRegisters& display);

// Throws xvgpu::Error when the surface is off or does not lie inside vram.
void check_scanout(const ScanoutSurface& surface, uint64_t vram_size);

// A frame as 8-bit R, G, B triplets, row after row.
struct RgbFrame {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> rgb;
};

// Converts rows [first_row, end_row) of the visible frame to 8-bit RGB triplets in rgb
// (width * 3 bytes per row, the whole frame). The surface must have passed check_scanout().
void convert_rows(const ScanoutSurface& surface, std::span<const std::byte> vram,
                  const DisplayRegisters& display, uint32_t first_row, uint32_t end_row,
                  std::span<uint8_t> rgb);

}  // namespace xvgpu::simgpu
