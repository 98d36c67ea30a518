// The display as the Linux bochs driver drives it: probe, EDID, mode set and page flip,
// then the screenshot must show exactly the pixels the guest wrote.
#include <gtest/gtest.h>

#include <cstring>

#include "common/error.h"
#include "device_screenshot.h"
#include "guest_driver.h"
#include "png_decode.h"
#include "test_host.h"
#include "vendor/simgpu/simgpu_device.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::simgpu::test {
namespace {

class Display : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(host_.load(simgpu_vendor()), 0);
    inst_ = host_.create(0, {}, nullptr, nullptr, uuid_);  // simgpu-16
    ASSERT_NE(inst_, nullptr);
    ASSERT_EQ(host_.start(inst_), 0);
  }
  std::vector<uint8_t> screenshot() {
    std::vector<uint8_t> png;
    EXPECT_TRUE(with_device(uuid_, [&](SimgpuDevice& d) { png = screenshot_png(d); }));
    return png;
  }
  uint64_t stat(uint32_t index) {
    std::array<uint64_t, kStatCount> v{};
    host_.ops(inst_).read_stats(inst_->vgpu_data, v.data(), kStatCount);
    return v.at(index);
  }
  void put32(uint64_t off, uint32_t v) { std::memcpy(inst_->vram.data() + off, &v, 4); }

  TestHost host_;
  TestInstance* inst_ = nullptr;
  std::string uuid_ = "6b0d4a3e-5a1c-4d7b-9f00-000000000001";
};

TEST_F(Display, BochsProbeFindsTheDevice) {
  const BochsProbe p = bochs_probe(host_, inst_);
  EXPECT_EQ(p.id & 0xfff0, 0xB0C0);
  EXPECT_EQ(p.mem, inst_->vram.size()) << "VIDEO_MEMORY_64K must match the BAR0 size";
  EXPECT_EQ(p.qext_size, 8u);
  // EDID header at offset 0 (the driver checks it byte by byte), then the whole block.
  EdidBlock e{};
  for (size_t k = 0; k < e.size(); ++k) e[k] = static_cast<uint8_t>(host_.read(inst_, kRegs, k, 1));
  EXPECT_TRUE(edid_block_valid(e));
  EXPECT_EQ(e[54 + 2] | (e[54 + 4] >> 4) << 8, 1024) << "default preferred mode 1024x768";
}

TEST_F(Display, ModeSetAndPagedFramebufferMatchPixelForPixel) {
  const BochsProbe p = bochs_probe(host_, inst_);
  const uint16_t w = 1024;
  const uint16_t hgt = 768;
  const uint32_t stride = w * 4;
  // Junk in VRAM before the mode set: the enable clears the first frame.
  std::memset(inst_->vram.data(), 0xa5, stride * hgt);
  bochs_setmode(host_, inst_, w, hgt, p.mem);
  for (uint64_t k = 0; k < uint64_t{stride} * hgt; k += 4093) ASSERT_EQ(inst_->vram[k], std::byte{0});
  EXPECT_EQ(dispi_read(host_, inst_, 0x7), p.mem / stride) << "VIRT_HEIGHT as the driver set it";

  // The framebuffer object lives at 4 MiB (a second buffer), like a page flip.
  const uint64_t fb = 4u << 20;
  bochs_setbase(host_, inst_, 0, 0, stride, fb);
  EXPECT_EQ(dispi_read(host_, inst_, 0x9), fb / stride);

  std::vector<uint8_t> expected(size_t{w} * hgt * 3);
  for (uint32_t y = 0; y < hgt; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      const uint8_t r = static_cast<uint8_t>(x * 7 + y);
      const uint8_t g = static_cast<uint8_t>(y * 3 ^ x);
      const uint8_t b = static_cast<uint8_t>((x + y) * 13);
      put32(fb + uint64_t{y} * stride + x * 4, uint32_t{r} << 16 | uint32_t{g} << 8 | b | 0xff000000u);
      const size_t o = (size_t{y} * w + x) * 3;
      expected[o] = r;
      expected[o + 1] = g;
      expected[o + 2] = b;
    }
  }
  const auto frames_before = stat(kStatFrames);
  const DecodedImage img = decode_png(screenshot());
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, hgt);
  ASSERT_EQ(img.rgb.size(), expected.size());
  size_t mismatches = 0;
  for (size_t k = 0; k < expected.size(); ++k) mismatches += img.rgb[k] != expected[k];
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(stat(kStatFrames), frames_before + 1);

  // The display-surface query describes the same scan-out.
  xvgpu_display_surface s{};
  s.struct_size = XVGPU_INIT(xvgpu_display_surface);
  ASSERT_EQ(host_.ops(inst_).display_surface(inst_->vgpu_data, 0, &s), 0);
  EXPECT_EQ(s.enabled, 1u);
  EXPECT_EQ(s.fourcc, XVGPU_FOURCC_XRGB8888);
  EXPECT_EQ(s.width, w);
  EXPECT_EQ(s.height, hgt);
  EXPECT_EQ(s.stride, stride);
  EXPECT_EQ(s.bar, 0u);
  EXPECT_EQ(s.offset, fb);
  EXPECT_EQ(host_.ops(inst_).display_surface(inst_->vgpu_data, 1, &s), -EINVAL) << "one head";
}

TEST_F(Display, BigEndianFramebufferFormat) {
  const BochsProbe p = bochs_probe(host_, inst_);
  bochs_setmode(host_, inst_, 64, 32, p.mem);
  bochs_setbase(host_, inst_, 0, 0, 64 * 4, 0, /*big_endian=*/true);
  // BGRX8888: bytes in memory X R G B.
  for (uint32_t k = 0; k < 64 * 32; ++k) {
    const std::array<uint8_t, 4> px = {0, static_cast<uint8_t>(k), static_cast<uint8_t>(k >> 3), 0x42};
    std::memcpy(inst_->vram.data() + k * 4, px.data(), 4);
  }
  const DecodedImage img = decode_png(screenshot());
  for (uint32_t k = 0; k < 64 * 32; ++k) {
    ASSERT_EQ(img.rgb[k * 3], static_cast<uint8_t>(k));
    ASSERT_EQ(img.rgb[k * 3 + 1], static_cast<uint8_t>(k >> 3));
    ASSERT_EQ(img.rgb[k * 3 + 2], 0x42);
  }
}

TEST_F(Display, SixteenAndTwentyFourBppModes) {
  // 16 bpp RGB565.
  dispi_write(host_, inst_, 0x4, 0);
  dispi_write(host_, inst_, 0x3, 16);
  dispi_write(host_, inst_, 0x1, 40);
  dispi_write(host_, inst_, 0x2, 10);
  dispi_write(host_, inst_, 0x4, 0x41);
  for (uint32_t k = 0; k < 400; ++k) {
    const auto v = static_cast<uint16_t>(k * 163);
    std::memcpy(inst_->vram.data() + k * 2, &v, 2);
  }
  DecodedImage img = decode_png(screenshot());
  ASSERT_EQ(img.width, 40u);
  for (uint32_t k = 0; k < 400; ++k) {
    const auto v = static_cast<uint16_t>(k * 163);
    const unsigned r5 = v >> 11, g6 = (v >> 5) & 0x3f, b5 = v & 0x1f;
    ASSERT_EQ(img.rgb[k * 3], (r5 << 3 | r5 >> 2));
    ASSERT_EQ(img.rgb[k * 3 + 1], (g6 << 2 | g6 >> 4));
    ASSERT_EQ(img.rgb[k * 3 + 2], (b5 << 3 | b5 >> 2));
  }
  // 24 bpp: bytes B G R.
  dispi_write(host_, inst_, 0x4, 0);
  dispi_write(host_, inst_, 0x3, 24);
  dispi_write(host_, inst_, 0x4, 0x41 | 0x80);  // NOCLEARMEM
  for (uint32_t k = 0; k < 400 * 3; ++k) inst_->vram[k] = static_cast<std::byte>(k * 31);
  img = decode_png(screenshot());
  for (uint32_t k = 0; k < 400; ++k) {
    ASSERT_EQ(img.rgb[k * 3], static_cast<uint8_t>((k * 3 + 2) * 31));
    ASSERT_EQ(img.rgb[k * 3 + 1], static_cast<uint8_t>((k * 3 + 1) * 31));
    ASSERT_EQ(img.rgb[k * 3 + 2], static_cast<uint8_t>((k * 3) * 31));
  }
}

TEST_F(Display, BlankedOrDisabledDisplayHasNoScanout) {
  const BochsProbe p = bochs_probe(host_, inst_);
  EXPECT_THROW(screenshot(), Error) << "disabled";
  bochs_setmode(host_, inst_, 640, 480, p.mem);
  EXPECT_NO_THROW(screenshot());
  bochs_blank(host_, inst_, true);
  EXPECT_THROW(screenshot(), Error) << "blanked";
  xvgpu_display_surface s{};
  s.struct_size = XVGPU_INIT(xvgpu_display_surface);
  ASSERT_EQ(host_.ops(inst_).display_surface(inst_->vgpu_data, 0, &s), 0);
  EXPECT_EQ(s.enabled, 0u);
}

TEST_F(Display, ScreenshotsShowGuestStoresEngineWritesAndPanning) {
  const BochsProbe p = bochs_probe(host_, inst_);
  const uint32_t w = 256;
  bochs_setmode(host_, inst_, w, 64, p.mem);
  const auto pixel = [&](const DecodedImage& img, uint32_t x, uint32_t y) {
    const size_t o = (size_t{y} * w + x) * 3;
    return uint32_t{img.rgb[o]} << 16 | uint32_t{img.rgb[o + 1]} << 8 | img.rgb[o + 2];
  };
  const uint64_t rows0 = stat(kStatScanoutRowsConverted);
  decode_png(screenshot());
  EXPECT_EQ(stat(kStatScanoutRowsConverted), rows0 + 64) << "every screenshot converts the whole frame";

  put32(10 * w * 4 + 5 * 4, 0x00123456);  // a guest store into row 10
  DecodedImage img = decode_png(screenshot());
  EXPECT_EQ(pixel(img, 5, 10), 0x123456u);
  EXPECT_EQ(stat(kStatScanoutRowsConverted), rows0 + 128);

  Ring ring = setup_ring(host_, inst_, TestHost::kRamBase, 16);
  submit(host_, inst_, ring, {fill(40 * w * 4, w * 4, 1, 0, 0x00abcdef, 1)});
  img = decode_png(screenshot());
  EXPECT_EQ(pixel(img, 0, 40), 0xabcdefu);
  EXPECT_EQ(pixel(img, 255, 40), 0xabcdefu);

  dispi_write(host_, inst_, 0x9, 1);  // Y_OFFSET: the frame starts one row down
  img = decode_png(screenshot());
  EXPECT_EQ(pixel(img, 5, 9), 0x123456u);
  EXPECT_EQ(stat(kStatScanoutRowsConverted), rows0 + 256);
}

TEST_F(Display, RefusedAccessesAreCounted) {
  int rc = 0;
  EXPECT_EQ(host_.read(inst_, kRegs, 0x700, 4, &rc), 0xffffffffu);
  EXPECT_LT(rc, 0);
  EXPECT_LT(host_.write(inst_, kRegs, 0x10, 1, 0), 0) << "EDID is read-only";
  EXPECT_LT(host_.write(inst_, kRegs, 0x800, 4, 0), 0);
  EXPECT_LT(host_.write(inst_, 1, 0, 4, 0), 0) << "no BAR1";
  EXPECT_LT(host_.write(inst_, kEngine, engine::kRegId, 4, 0), 0) << "read-only engine register";
  EXPECT_LT(host_.write(inst_, kEngine, 0x800, 4, 0), 0);
  EXPECT_EQ(stat(kStatRefusedRegisterWrites), 5u);
}

}  // namespace
}  // namespace xvgpu::simgpu::test
