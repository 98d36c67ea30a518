#include "dm/png_writer.h"

#include <png.h>

#include <memory>
#include <vector>

#include "common/error.h"
#include "dm/pixel_format.h"

namespace xvgpu::dm {

namespace {

struct PngWrite {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWrite() { png_destroy_write_struct(&png, &info); }
};

void append(png_structp png, png_bytep data, png_size_t len) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), len);
}

// Nothing here owns memory: a longjmp out of libpng must not skip a destructor.
void write_image(png_structp png, png_infop info, const SurfaceImage& im, unsigned bpp, uint8_t* row) {
  png_set_IHDR(png, info, im.width, im.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 3);
  png_write_info(png, info);
  for (uint32_t y = 0; y < im.height; ++y) {
    const std::byte* line = im.pixels.data() + static_cast<size_t>(y) * im.stride;
    for (uint32_t x = 0; x < im.width; ++x)
      to_rgb(im.fourcc, line + static_cast<size_t>(x) * bpp, &row[x * 3]);
    png_write_row(png, row);
  }
  png_write_end(png, nullptr);
}

// libpng reports errors by longjmp to here: this frame holds nothing to clean up.
bool write_png(png_structp png, png_infop info, std::string* out, const SurfaceImage* im, unsigned bpp,
               uint8_t* row) {
  if (setjmp(png_jmpbuf(png)) != 0) return false;
  png_set_write_fn(png, out, append, nullptr);
  write_image(png, info, *im, bpp, row);
  return true;
}

}  // namespace

std::string encode_png(const SurfaceImage& im) {
  const unsigned bpp = bytes_per_pixel(im.fourcc);
  if (bpp == 0) throw Error("screenshot: unsupported pixel format 0x" + std::to_string(im.fourcc));
  if (im.width == 0 || im.height == 0 || im.width > 16384 || im.height > 16384) {
    throw Error("screenshot: bad surface size " + std::to_string(im.width) + "x" + std::to_string(im.height));
  }
  if (uint64_t{im.stride} < uint64_t{im.width} * bpp ||
      uint64_t{im.stride} * (im.height - 1) + uint64_t{im.width} * bpp > im.pixels.size()) {
    throw Error("screenshot: surface does not fit its memory");
  }
  std::string out;
  PngWrite w;
  w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (w.png == nullptr) throw Error("screenshot: png_create_write_struct failed");
  w.info = png_create_info_struct(w.png);
  if (w.info == nullptr) throw Error("screenshot: png_create_info_struct failed");
  std::vector<uint8_t> row(static_cast<size_t>(im.width) * 3);
  if (!write_png(w.png, w.info, &out, &im, bpp, row.data())) throw Error("screenshot: PNG encoding failed");
  return out;
}

}  // namespace xvgpu::dm
