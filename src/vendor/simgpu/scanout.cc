#include "vendor/simgpu/scanout.h"

#include "common/error.h"

namespace xvgpu::simgpu {

ScanoutSurface current_scanout(const DisplayRegisters& display) {
  ScanoutSurface s;
  const auto mode = display.dispi().mode();
  if (!mode) return s;
  s.enabled = !display.vga().blanked();
  s.width = mode->xres;
  s.height = mode->yres;
  s.stride = mode->stride;
  s.bytes_per_pixel = mode->bytes_per_pixel;
  s.offset = mode->offset;
  switch (mode->bpp) {
    case 32:
      s.fourcc = display.big_endian() ? kFourccBgrx8888 : kFourccXrgb8888;
      break;
    case 24:
      s.fourcc = kFourccRgb888;
      break;
    case 16:
      s.fourcc = kFourccRgb565;
      break;
    case 15:
      s.fourcc = kFourccXrgb1555;
      break;
    default:
      s.fourcc = kFourccC8;
      break;
  }
  return s;
}

namespace {
uint8_t expand5(unsigned v) {
  return static_cast<uint8_t>(v << 3 | v >> 2);
}
uint8_t expand6(unsigned v) {
  return static_cast<uint8_t>(v << 2 | v >> 4);
}
}  // namespace

void check_scanout(const ScanoutSurface& s, uint64_t vram_size) {
  if (!s.enabled || s.width == 0 || s.height == 0) throw Error("the display is off: nothing is scanned out");
  const uint64_t row_bytes = uint64_t{s.width} * s.bytes_per_pixel;
  const uint64_t extent = uint64_t{s.height - 1} * s.stride + row_bytes;
  if (s.stride < row_bytes || s.offset > vram_size || extent > vram_size - s.offset) {
    throw Error("the scan-out surface does not lie inside VRAM");
  }
}

void convert_rows(const ScanoutSurface& s, std::span<const std::byte> vram, const DisplayRegisters& display,
                  uint32_t first_row, uint32_t end_row, std::span<uint8_t> rgb) {
  const bool dac8 = (display.dispi().raw()[dispi::kIndexEnable] & dispi::k8BitDac) != 0;
  for (uint32_t y = first_row; y < end_row && y < s.height; ++y) {
    uint8_t* out = rgb.data() + size_t{y} * s.width * 3;
    const auto* row = reinterpret_cast<const uint8_t*>(vram.data() + s.offset + uint64_t{y} * s.stride);
    for (uint32_t x = 0; x < s.width; ++x, out += 3) {
      const uint8_t* p = row + uint64_t{x} * s.bytes_per_pixel;
      switch (s.fourcc) {
        case kFourccXrgb8888:
        case kFourccRgb888:
          out[0] = p[2];
          out[1] = p[1];
          out[2] = p[0];
          break;
        case kFourccBgrx8888:
          out[0] = p[1];
          out[1] = p[2];
          out[2] = p[3];
          break;
        case kFourccRgb565: {
          const unsigned v = p[0] | p[1] << 8;
          out[0] = expand5(v >> 11);
          out[1] = expand6((v >> 5) & 0x3f);
          out[2] = expand5(v & 0x1f);
          break;
        }
        case kFourccXrgb1555: {
          const unsigned v = p[0] | p[1] << 8;
          out[0] = expand5((v >> 10) & 0x1f);
          out[1] = expand5((v >> 5) & 0x1f);
          out[2] = expand5(v & 0x1f);
          break;
        }
        default: {
          const auto c = display.vga().palette_rgb(p[0], dac8);
          out[0] = c[0];
          out[1] = c[1];
          out[2] = c[2];
          break;
        }
      }
    }
  }
}

}  // namespace xvgpu::simgpu
