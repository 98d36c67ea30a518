// The EDID 1.4 base block the simgpu presents at offset 0 of its MMIO BAR, where the bochs
// driver looks for it. It advertises a preferred mode (the first detailed timing), the
// type's maximum mode, standard modes that fit, and range limits, so the guest's mode list
// never exceeds what the device accepts.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace xvgpu::simgpu {

inline constexpr size_t kEdidBlockSize = 128;
using EdidBlock = std::array<uint8_t, kEdidBlockSize>;

struct EdidParams {
  uint32_t preferred_width = 1024;
  uint32_t preferred_height = 768;
  uint32_t max_width = 1920;   // at most 4095 (12-bit timing fields)
  uint32_t max_height = 1200;  // at most 4095
  uint32_t serial = 0;
  std::string monitor_name = "simgpu";  // at most 13 characters are used
};

// A valid block (header, checksum); the preferred mode is clamped to the maximum.
EdidBlock make_edid(const EdidParams& params);

// True when the 8-byte header and the checksum are right.
bool edid_block_valid(const EdidBlock& block);

}  // namespace xvgpu::simgpu
