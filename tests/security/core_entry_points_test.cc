// The core's fuzz entry points (fuzz/core_entry_points.h) survive random and adversarial
// inputs (a smoke run; the libFuzzer targets run them for long).
#include "core_entry_points.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace xvgpu::fuzz {
namespace {

TEST(FuzzEntry, RandomInputsKeepInvariants) {
  std::mt19937 rng(12345);
  std::vector<uint8_t> buf;
  for (int round = 0; round < 2000; ++round) {
    buf.resize(rng() % 512);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    fuzz_config_space(buf.data(), buf.size());
    fuzz_bar_dispatch(buf.data(), buf.size());
  }
  fuzz_config_space(nullptr, 0);
  fuzz_bar_dispatch(nullptr, 0);
}

TEST(FuzzEntry, ProgrammedDeviceSequence) {
  // Enable decode + bus master, place BAR2, enable MSI, raise vectors: exercises map/unmap.
  const std::vector<uint8_t> seq = {
      0x06, 0x04, 0x07, 0x00, 0x00, 0x00,  // write dword cmd = 7
      0x06, 0x18, 0x00, 0x00, 0xb0, 0xfe,  // BAR2 low
      0x06, 0x42, 0x01, 0x00, 0x00, 0x00,  // MSI enable
      0x08, 0x00,                          // raise vector 0
      0x06, 0x18, 0xff, 0xff, 0xff, 0xff,  // sizing
      0x0c,                                // reconcile detached
  };
  fuzz_config_space(seq.data(), seq.size());
}

}  // namespace
}  // namespace xvgpu::fuzz

namespace xvgpu::fuzz {
namespace {

TEST(FuzzEntry, WholeVgpuSurvivesRandomGuests) {
  std::mt19937 rng(777);
  std::vector<uint8_t> buf;
  for (int round = 0; round < 150; ++round) {
    buf.resize(rng() % 2048);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    fuzz_vgpu_io(buf.data(), buf.size());
  }
}

TEST(FuzzEntry, WholeVgpuProgrammedSequence) {
  // Place BAR2 at 0xfe001000, enable memory+io+master, then hit it, move it, reset, restart.
  std::vector<uint8_t> seq = {
      0x04 | 2, 0x18, 0x00, 0x10, 0x00, 0xfe,  // config write dword BAR2
      0x04 | 2, 0x04, 0x07, 0x00, 0x00, 0x00,  // command
      0x0c | 2, 0x00, 0x10, 0x00, 0x00,        // MMIO write 4 bytes at 0xfe001000 (+value)
      0x00,     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08 | 3, 0x00, 0x10, 0x00, 0x00,  // MMIO read 8
      0x04 | 2, 0x18, 0x00, 0x20, 0x00, 0xfe,                                                // move BAR2
      0x18,                                                                                  // stop+start
      0x38,                                                                                  // reset
  };
  EXPECT_EQ(fuzz_vgpu_io(seq.data(), seq.size()), 2u) << "one write and one 8-byte read reached the vendor";
}

}  // namespace
}  // namespace xvgpu::fuzz
