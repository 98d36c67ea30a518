#include "vendor/simgpu/edid_block.h"

#include <gtest/gtest.h>

#include <numeric>

namespace xvgpu::simgpu {
namespace {

struct Dtd {
  uint32_t clock_10khz, hactive, hblank, vactive, vblank;
};
Dtd decode_dtd(const EdidBlock& e, size_t at) {
  Dtd d{};
  d.clock_10khz = e[at] | e[at + 1] << 8;
  d.hactive = e[at + 2] | (e[at + 4] >> 4) << 8;
  d.hblank = e[at + 3] | (e[at + 4] & 0xf) << 8;
  d.vactive = e[at + 5] | (e[at + 7] >> 4) << 8;
  d.vblank = e[at + 6] | (e[at + 7] & 0xf) << 8;
  return d;
}

TEST(EdidBlock, HeaderChecksumAndVersion) {
  const EdidBlock e = make_edid(EdidParams{});
  EXPECT_TRUE(edid_block_valid(e));
  EXPECT_EQ(std::accumulate(e.begin(), e.end(), 0u) % 256, 0u);
  EXPECT_EQ(e[18], 1);
  EXPECT_EQ(e[19], 4);
  EXPECT_EQ(e[126], 0) << "no extension blocks";
}

TEST(EdidBlock, PreferredModeIsTheFirstDetailedTiming) {
  EdidParams p;
  p.preferred_width = 1280;
  p.preferred_height = 800;
  p.max_width = 2560;
  p.max_height = 1600;
  const EdidBlock e = make_edid(p);
  ASSERT_TRUE(edid_block_valid(e));
  EXPECT_EQ(e[24] & 0x02, 0x02) << "preferred timing flag";
  const Dtd pref = decode_dtd(e, 54);
  EXPECT_EQ(pref.hactive, 1280u);
  EXPECT_EQ(pref.vactive, 800u);
  // 60 Hz within 1%.
  const double hz =
      pref.clock_10khz * 10000.0 / ((pref.hactive + pref.hblank) * (pref.vactive + pref.vblank));
  EXPECT_NEAR(hz, 60.0, 0.6);
  // The maximum mode is listed too.
  const Dtd max = decode_dtd(e, 108);
  EXPECT_EQ(max.hactive, 2560u);
  EXPECT_EQ(max.vactive, 1600u);
  // Range limits and monitor name descriptors.
  EXPECT_EQ(e[72 + 3], 0xfd);
  EXPECT_EQ(e[90 + 3], 0xfc);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&e[95]), 6), "simgpu");
}

TEST(EdidBlock, PreferredModeIsClampedToTheMaximum) {
  EdidParams p;
  p.preferred_width = 4000;
  p.preferred_height = 3000;
  p.max_width = 1920;
  p.max_height = 1200;
  const EdidBlock e = make_edid(p);
  ASSERT_TRUE(edid_block_valid(e));
  const Dtd pref = decode_dtd(e, 54);
  EXPECT_EQ(pref.hactive, 1920u);
  EXPECT_EQ(pref.vactive, 1200u);
  // No standard timing beyond the maximum.
  for (size_t s = 0; s < 8; ++s) {
    const uint8_t b0 = e[38 + 2 * s];
    if (b0 == 0x01) continue;
    EXPECT_LE((b0 + 31u) * 8, 1920u);
  }
}

TEST(EdidBlock, ChecksumCatchesCorruption) {
  EdidBlock e = make_edid(EdidParams{});
  e[60] ^= 0x01;
  EXPECT_FALSE(edid_block_valid(e));
}

}  // namespace
}  // namespace xvgpu::simgpu
