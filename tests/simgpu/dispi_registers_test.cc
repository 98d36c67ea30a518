#include "vendor/simgpu/dispi_registers.h"

#include <gtest/gtest.h>

#include "vendor/simgpu/display_registers.h"

namespace xvgpu::simgpu {
namespace {

constexpr uint64_t kVram = 16u << 20;

TEST(DispiRegisters, IdentityAndVideoMemory) {
  DispiRegisters r(kVram, 1920, 1200);
  EXPECT_EQ(r.read(dispi::kIndexId), 0xB0C5);
  EXPECT_EQ(r.read(dispi::kIndexVideoMemory64k), kVram / 65536);
  r.write(dispi::kIndexId, 0xB0C2);
  EXPECT_EQ(r.read(dispi::kIndexId), 0xB0C2);
  r.write(dispi::kIndexId, 0x1234);  // unknown revision: ignored
  EXPECT_EQ(r.read(dispi::kIndexId), 0xB0C2);
  r.write(dispi::kIndexVideoMemory64k, 1);  // read-only
  EXPECT_EQ(r.read(dispi::kIndexVideoMemory64k), kVram / 65536);
  EXPECT_EQ(r.read(0x55), 0);
}

TEST(DispiRegisters, ValuesAreKeptAsWrittenWhileDisabled) {
  DispiRegisters r(kVram, 1920, 1200);
  r.write(dispi::kIndexXres, 9999);
  r.write(dispi::kIndexBpp, 7);
  EXPECT_EQ(r.read(dispi::kIndexXres), 9999);
  EXPECT_EQ(r.read(dispi::kIndexBpp), 7);
  EXPECT_FALSE(r.mode());
}

TEST(DispiRegisters, EnableClearsTheFrameUnlessNoClearMem) {
  DispiRegisters r(kVram, 1920, 1200);
  r.write(dispi::kIndexBpp, 32);
  r.write(dispi::kIndexXres, 800);
  r.write(dispi::kIndexYres, 600);
  EXPECT_EQ(r.write(dispi::kIndexEnable, dispi::kEnabled | dispi::kLfbEnabled), 800u * 4 * 600);
  // Already enabled: no second clear.
  EXPECT_EQ(r.write(dispi::kIndexEnable, dispi::kEnabled | dispi::kLfbEnabled), 0u);
  r.write(dispi::kIndexEnable, 0);
  EXPECT_EQ(r.write(dispi::kIndexEnable, dispi::kEnabled | dispi::kNoClearMem), 0u);
}

TEST(DispiRegisters, HostileModesAreClampedIntoVram) {
  DispiRegisters r(kVram, 1920, 1200);
  r.write(dispi::kIndexBpp, 32);
  r.write(dispi::kIndexXres, 0xffff);
  r.write(dispi::kIndexYres, 0xffff);
  r.write(dispi::kIndexVirtWidth, 0xffff);
  r.write(dispi::kIndexVirtHeight, 0xffff);
  r.write(dispi::kIndexXOffset, 0xffff);
  r.write(dispi::kIndexYOffset, 0xffff);
  r.write(dispi::kIndexBank, 0xffff);
  r.write(dispi::kIndexEnable, dispi::kEnabled);
  const auto m = r.mode();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->xres, 1920u);
  EXPECT_EQ(m->yres, 1200u);
  EXPECT_LE(m->offset + uint64_t{m->yres - 1} * m->stride + m->xres * 4ull, kVram);
  EXPECT_LT(r.read(dispi::kIndexBank), kVram >> 16);
  // Later writes while enabled are clamped too.
  for (uint16_t v : {uint16_t{0}, uint16_t{1}, uint16_t{0x7fff}, uint16_t{0xffff}}) {
    for (uint16_t reg = 1; reg < dispi::kRegisterCount; ++reg) {
      if (reg == dispi::kIndexEnable) continue;
      r.write(reg, v);
      const auto mm = r.mode();
      ASSERT_TRUE(mm);
      ASSERT_GE(mm->xres, 1u);
      ASSERT_GE(mm->yres, 1u);
      ASSERT_NE(mm->bytes_per_pixel, 0u);
      ASSERT_LE(mm->offset + uint64_t{mm->yres - 1} * mm->stride + uint64_t{mm->xres} * mm->bytes_per_pixel,
                kVram)
          << "reg " << reg << " value " << v;
    }
  }
}

TEST(DispiRegisters, UnsupportedDepthFallsBackTo8Bpp) {
  DispiRegisters r(kVram, 1920, 1200);
  r.write(dispi::kIndexBpp, 4);
  r.write(dispi::kIndexXres, 640);
  r.write(dispi::kIndexYres, 480);
  r.write(dispi::kIndexEnable, dispi::kEnabled);
  EXPECT_EQ(r.mode()->bpp, 8u);
}

TEST(DispiRegisters, GetCapsReportsTheMaximum) {
  DispiRegisters r(kVram, 2560, 1600);
  r.write(dispi::kIndexEnable, dispi::kGetCaps);
  EXPECT_EQ(r.read(dispi::kIndexXres), 2560);
  EXPECT_EQ(r.read(dispi::kIndexYres), 1600);
  EXPECT_EQ(r.read(dispi::kIndexBpp), 32);
  r.write(dispi::kIndexEnable, 0);
  EXPECT_EQ(r.read(dispi::kIndexXres), 0);
}

TEST(DisplayRegisters, LayoutHolesAndSizes) {
  DisplayRegisters d(kVram, 1920, 1200, make_edid(EdidParams{}));
  uint64_t clear = 0;
  // EDID bytes, little-endian assembled.
  EXPECT_EQ(d.read(0, 4), 0xffffff00u);
  EXPECT_EQ(d.read(0x200, 4), 0u) << "zero padding up to 0x400";
  EXPECT_FALSE(d.write(0, 1, 0, &clear)) << "EDID is read-only";
  // DISPI word and dword access; a dword spans two registers.
  EXPECT_EQ(d.read(0x500, 2), 0xB0C5u);
  EXPECT_TRUE(d.write(0x504, 4, uint64_t{32} << 16 | 768, &clear));
  EXPECT_EQ(d.read(0x504, 2), 768u);
  EXPECT_EQ(d.read(0x506, 2), 32u);
  EXPECT_EQ(d.read(0x504, 4), uint64_t{32} << 16 | 768);
  EXPECT_TRUE(d.write(0x505, 1, 0x05, &clear)) << "byte write: read-modify-write";
  EXPECT_EQ(d.read(0x504, 2), 0x0500u);
  EXPECT_FALSE(d.write(0x502, 4, 0, &clear)) << "misaligned dword";
  // QEMU extended registers.
  EXPECT_EQ(d.read(0x600, 4), 8u);
  EXPECT_EQ(d.read(0x604, 4), 0x1e1e1e1eu);
  EXPECT_TRUE(d.write(0x604, 4, 0xbebebebe, &clear));
  EXPECT_TRUE(d.big_endian());
  EXPECT_FALSE(d.write(0x604, 4, 0x12345678, &clear));
  EXPECT_TRUE(d.big_endian()) << "an unknown magic changes nothing";
  EXPECT_FALSE(d.write(0x600, 4, 0, &clear));
  // Holes and bad sizes are refused.
  EXPECT_FALSE(d.read(0x420, 1));
  EXPECT_FALSE(d.read(0x516, 2));
  EXPECT_FALSE(d.read(0x608, 4));
  EXPECT_FALSE(d.read(0xffc, 4));
  EXPECT_FALSE(d.read(0x1000, 1));
  EXPECT_FALSE(d.read(0x500, 8));
  EXPECT_FALSE(d.read(0x501, 2)) << "misaligned";
  EXPECT_FALSE(d.write(0x700, 4, 1, &clear));
}

TEST(DisplayRegisters, VgaBlankingThroughTheAttributeController) {
  DisplayRegisters d(kVram, 1920, 1200, make_edid(EdidParams{}));
  uint64_t clear = 0;
  EXPECT_FALSE(d.vga().blanked());
  d.write(0x402, 1, 0x01, &clear);  // misc: colour
  d.read(0x41a, 1);                 // reset flip-flop
  d.write(0x400, 1, 0x00, &clear);  // index with PAS clear: blank
  EXPECT_TRUE(d.vga().blanked());
  d.write(0x400, 1, 0x11, &clear);  // data write (flip-flop) does not unblank
  EXPECT_TRUE(d.vga().blanked());
  d.read(0x41a, 1);
  d.write(0x400, 1, 0x20, &clear);
  EXPECT_FALSE(d.vga().blanked());
  // A 16-bit write hits the index port first, then the data port.
  d.write(0x408, 2, 0x3f << 8 | 0x05, &clear);  // DAC write index 5, then R = 0x3f
  d.write(0x409, 1, 0x00, &clear);
  d.write(0x409, 1, 0x20, &clear);
  const auto rgb = d.vga().palette_rgb(5, false);
  EXPECT_EQ(rgb[0], 0xff);
  EXPECT_EQ(rgb[1], 0x00);
  EXPECT_EQ(rgb[2], 0x82);
}

}  // namespace
}  // namespace xvgpu::simgpu
