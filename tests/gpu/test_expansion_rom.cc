#include "gpu/expansion_rom.h"

#include <gtest/gtest.h>

#include <bit>
#include <fstream>
#include <iterator>
#include <string>

#include "common/error.h"
#include "support/rom_image.h"

namespace xvgpu::gpu {
namespace {

using test::fix_rom_checksum;
using test::make_rom_image;

std::string refusal(std::vector<uint8_t> image) {
  try {
    ExpansionRom rom(std::move(image));
  } catch (const Error& e) {
    return e.what();
  }
  return "accepted";
}

TEST(ExpansionRom, AWellFormedImageGivesItsIdsAndAPowerOfTwoBar) {
  const auto image = make_rom_image(0x1234, 0x1111, 3);
  const ExpansionRom rom(image);
  EXPECT_EQ(rom.vendor_id(), 0x1234);
  EXPECT_EQ(rom.device_id(), 0x1111);
  EXPECT_EQ(rom.ids_text(), "1234:1111");
  EXPECT_EQ(rom.bar_size(), 2048u) << "1536 bytes round up to 2 KiB";
  EXPECT_EQ(ExpansionRom(make_rom_image(1, 2, 20)).bar_size(), 16384u) << "10 KiB round up to 16 KiB";
  EXPECT_EQ(ExpansionRom(make_rom_image(1, 2, 64)).bar_size(), 32768u) << "32 KiB exactly";
}

TEST(ExpansionRom, ReadsAreLittleEndianAndPastTheImageReadAsErased) {
  const auto image = make_rom_image(0x1234, 0x1111, 3);
  const ExpansionRom rom(image);
  EXPECT_EQ(rom.read(0, 2), 0xaa55u);
  EXPECT_EQ(rom.read(0x100, 1), image[0x100]);
  EXPECT_EQ(rom.read(0x101, 4), uint64_t{image[0x101]} | uint64_t{image[0x102]} << 8 |
                                    uint64_t{image[0x103]} << 16 | uint64_t{image[0x104]} << 24);
  uint64_t want8 = 0;
  for (unsigned i = 0; i < 8; ++i) want8 |= uint64_t{image[0x200 + i]} << (8 * i);
  EXPECT_EQ(rom.read(0x200, 8), want8);
  EXPECT_EQ(rom.read(1534, 4), 0xffff0000u | image[1534] | uint64_t{image[1535]} << 8) << "straddles the end";
  EXPECT_EQ(rom.read(1536, 4), 0xffffffffu);
  EXPECT_EQ(rom.read(~uint64_t{0} - 1, 4), 0xffffffffu) << "offsets that wrap read as erased too";
}

TEST(ExpansionRom, EachDefectIsRefusedWithItsReason) {
  EXPECT_NE(refusal(std::vector<uint8_t>(100, 0)).find("at least one 512-byte block"), std::string::npos);
  EXPECT_NE(refusal(std::vector<uint8_t>(ExpansionRom::kMaxImageSize + 1, 0)).find("more than the 1024 KiB"),
            std::string::npos);
  auto bad_sig = make_rom_image(1, 2);
  bad_sig[1] = 0xab;
  EXPECT_NE(refusal(bad_sig).find("no option ROM signature 55 aa"), std::string::npos) << refusal(bad_sig);
  auto long_header = make_rom_image(1, 2, 3);
  long_header[2] = 4;
  EXPECT_NE(refusal(long_header).find("declares 2048 bytes but the image has 1536"), std::string::npos)
      << refusal(long_header);
  auto zero_len = make_rom_image(1, 2, 3);
  zero_len[2] = 0;
  EXPECT_NE(refusal(zero_len).find("declares 0 bytes"), std::string::npos) << refusal(zero_len);
  auto bad_sum = make_rom_image(1, 2);
  bad_sum[0x300] ^= 1;
  EXPECT_NE(refusal(bad_sum).find("checksum"), std::string::npos) << refusal(bad_sum);
  auto no_pcir = make_rom_image(1, 2);
  no_pcir[test::kRomPcirOffset] = 'X';
  fix_rom_checksum(no_pcir);
  EXPECT_NE(refusal(no_pcir).find("no PCI data structure (\"PCIR\") at offset 0x40"), std::string::npos)
      << refusal(no_pcir);
  auto pcir_outside = make_rom_image(1, 2);
  pcir_outside[0x18] = 0xfc;
  pcir_outside[0x19] = 0x05;  // 0x5fc: the structure would run past the 1536-byte image
  fix_rom_checksum(pcir_outside);
  EXPECT_NE(refusal(pcir_outside).find("no PCI data structure"), std::string::npos) << refusal(pcir_outside);
}

// The image xvgpu-dm uses by default, where the seabios package is installed.
TEST(ExpansionRom, DebiansSeaVgaBiosForBochsDisplaysIsAccepted) {
  std::ifstream in("/usr/share/seabios/vgabios-bochs-display.bin", std::ios::binary);
  if (!in) GTEST_SKIP() << "package seabios not installed";
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const ExpansionRom rom(bytes);
  EXPECT_EQ(rom.ids_text(), "1234:1111");
  EXPECT_EQ(rom.bar_size(), std::bit_ceil(uint64_t{bytes.size()}));
}

}  // namespace
}  // namespace xvgpu::gpu
