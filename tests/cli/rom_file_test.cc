#include "control/rom_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/error.h"
#include "support/rom_image.h"
#include "support/temp_dir.h"

namespace xvgpu::dm {
namespace {

class RomFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = d() + "/" + name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  static gpu::TypeInfo type(uint16_t vendor, uint16_t device, bool memory_bar = true) {
    gpu::TypeInfo t;
    t.name = "sim-1";
    t.layout.vendor_id = vendor;
    t.layout.device_id = device;
    t.layout.bars.push_back(gpu::BarLayout{0, 4096, !memory_bar, false, false, false, 1, 4});
    return t;
  }
  static std::string refusal(const std::optional<std::string>& rom, const gpu::TypeInfo& t,
                             const std::string& default_path = "/nonexistent") {
    try {
      (void)resolve_rom(rom, t, default_path);
    } catch (const Error& e) {
      return e.what();
    }
    return "accepted";
  }
  [[nodiscard]] std::string d() const { return dir.path().string(); }
  TempDir dir{"xvgpu-rom-test-"};
};

TEST_F(RomFileTest, TheOperatorsRomLoadsWhenItFitsTheType) {
  const auto path = write("vga.bin", test::make_rom_image(0x1234, 0x1111, 4));
  const auto rom = resolve_rom(path, type(0x1234, 0x1111));
  ASSERT_TRUE(rom);
  EXPECT_EQ(rom->image().size(), 2048u);
  EXPECT_EQ(rom->bar_size(), 2048u);
  EXPECT_FALSE(resolve_rom(std::string("off"), type(0x1234, 0x1111), path)) << "off wins over the default";
}

TEST_F(RomFileTest, ABadRomTheOperatorNamedIsRefusedNamingFileAndProblem) {
  const auto t = type(0x1234, 0x1111);
  EXPECT_EQ(refusal(d() + "/missing.bin", t), "rom " + d() + "/missing.bin: No such file or directory");
  EXPECT_EQ(refusal(d(), t), "rom " + d() + ": not a regular file");
  auto junk = test::make_rom_image(0x1234, 0x1111);
  junk[0] = 0x7f;
  const auto junk_path = write("junk.bin", junk);
  EXPECT_EQ(refusal(junk_path, t),
            "rom " + junk_path + ": no option ROM signature 55 aa at offset 0 (found 7f aa)");
  const auto big = write("big.bin", std::vector<uint8_t>(gpu::ExpansionRom::kMaxImageSize + 4096, 0x55));
  EXPECT_NE(refusal(big, t).find("rom " + big + ": 1048577 bytes: more than the 1024 KiB"), std::string::npos)
      << refusal(big, t) << " (the read stops one byte past the limit)";
  const auto other = write("other.bin", test::make_rom_image(0x1af4, 0x1050));
  EXPECT_EQ(
      refusal(other, t),
      "rom " + other + ": the ROM is for PCI 1af4:1050, type sim-1 is 1234:1111 (a BIOS would not run it)");
  EXPECT_EQ(refusal(other, type(0x1af4, 0x1050, false)),
            "rom " + other + ": type sim-1 has no memory BAR to decode a ROM");
}

TEST_F(RomFileTest, TheDefaultAppliesOnlyWhereItFits) {
  const auto path = write("default.bin", test::make_rom_image(0x1234, 0x1111));
  EXPECT_TRUE(resolve_rom(std::nullopt, type(0x1234, 0x1111), path));
  EXPECT_FALSE(resolve_rom(std::nullopt, type(0x1af4, 0x1050), path))
      << "built for other IDs: no ROM, no error";
  EXPECT_FALSE(resolve_rom(std::nullopt, type(0x1234, 0x1111), d() + "/absent.bin"))
      << "package not installed: no ROM";
  auto broken = test::make_rom_image(0x1234, 0x1111);
  broken[100] ^= 0xff;
  EXPECT_FALSE(resolve_rom(std::nullopt, type(0x1234, 0x1111), write("broken.bin", broken)))
      << "a broken default is warned about and left out, the vGPU still starts";
}

}  // namespace
}  // namespace xvgpu::dm
