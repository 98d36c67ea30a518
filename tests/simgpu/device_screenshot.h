// A simgpu device's screenshot as PNG, through xvgpu-dm's encoder (the one the control
// protocol's screenshot uses), for tests that compare frames with decode_png().
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dm/pixel_format.h"
#include "dm/png_writer.h"
#include "vendor/simgpu/simgpu_device.h"

namespace xvgpu::simgpu::test {

// Throws xvgpu::Error when the display is off.
inline std::vector<uint8_t> screenshot_png(SimgpuDevice& device) {
  const RgbFrame frame = device.screenshot_rgb();
  const std::string png = dm::encode_png({.fourcc = dm::fourcc('B', 'G', '2', '4'),  // bytes R, G, B
                                          .width = frame.width,
                                          .height = frame.height,
                                          .stride = frame.width * 3,
                                          .pixels = std::as_bytes(std::span(frame.rgb))});
  return {png.begin(), png.end()};
}

}  // namespace xvgpu::simgpu::test
