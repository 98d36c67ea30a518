#include "vendor/simgpu/screenshot_png.h"

#include <png.h>

#include <string>

#include "common/error.h"

namespace xvgpu::simgpu {

std::vector<uint8_t> encode_png_rgb(std::span<const uint8_t> rgb, uint32_t width, uint32_t height) {
  if (width == 0 || height == 0 || rgb.size() != size_t{width} * height * 3) {
    throw Error("screenshot: pixel buffer does not match " + std::to_string(width) + "x" +
                std::to_string(height));
  }
  // The simplified libpng API reports errors through the image struct (no setjmp).
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (png_image_write_to_memory(&image, nullptr, &size, 0, rgb.data(), 0, nullptr) == 0) {
    throw Error(std::string("screenshot: libpng: ") + image.message);
  }
  std::vector<uint8_t> png(size);
  if (png_image_write_to_memory(&image, png.data(), &size, 0, rgb.data(), 0, nullptr) == 0) {
    throw Error(std::string("screenshot: libpng: ") + image.message);
  }
  png.resize(size);
  return png;
}

}  // namespace xvgpu::simgpu
