// The vGPU types a physical simgpu offers: profiles of VRAM, maximum resolution and heads,
// and the knobs and counters every simgpu instance has.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace xvgpu::simgpu {

struct TypeProfile {
  const char* name;
  const char* description;
  uint64_t vram_bytes;  // power of two: the size of BAR0
  uint32_t max_width;   // <= 4095 (EDID timing fields)
  uint32_t max_height;
  uint32_t heads;  // the bochs-style display has a single scan-out
};

inline constexpr uint64_t kMiB = uint64_t{1} << 20;

inline constexpr std::array<TypeProfile, 3> kTypeProfiles = {{
    {"simgpu-16", "16 MiB VRAM, up to 1920x1200, 1 head", 16 * kMiB, 1920, 1200, 1},
    {"simgpu-64", "64 MiB VRAM, up to 2560x1600, 1 head", 64 * kMiB, 2560, 1600, 1},
    {"simgpu-256", "256 MiB VRAM, up to 3840x2160, 1 head", 256 * kMiB, 3840, 2160, 1},
}};

// Legacy I/O port ranges of the layout (vendor ABI 1.1): accesses arrive with region
// XVGPU_REGION_LEGACY_IO + kLegacyVga / kLegacyVbe, offsets from the first port.
enum LegacyRange : uint32_t { kLegacyVga = 0, kLegacyVbe = 1 };
inline constexpr uint16_t kVgaFirstPort = 0x3c0;
inline constexpr uint16_t kVgaPorts = 32;         // 0x3c0-0x3df
inline constexpr uint16_t kVbeIndexPort = 0x1ce;  // data at 0x1cf (16-bit)
inline constexpr const char* kDefaultPreferredMode = "1024x768";

// Counter indices (the order of the type's stat_names).
enum StatIndex : uint32_t {
  kStatFrames = 0,
  kStatEngineJobs,
  kStatEngineBytes,
  kStatInterrupts,
  kStatRejectedDescriptors,
  kStatRefusedRegisterWrites,
  kStatScanoutRowsConverted,
  kStatCount
};
inline constexpr std::array<const char*, kStatCount> kStatNames = {
    "frames_scanned_out",      "engine_jobs",           "engine_bytes", "interrupts", "rejected_descriptors",
    "refused_register_writes", "scanout_rows_converted"};
// A name missing from the list would silently be a null pointer.
static_assert(std::ranges::none_of(kStatNames, [](const char* n) { return n == nullptr; }));

struct Resolution {
  uint32_t width;
  uint32_t height;
};
// Parses "WIDTHxHEIGHT"; nullopt when malformed, zero or beyond max.
std::optional<Resolution> parse_resolution(std::string_view text, uint32_t max_width, uint32_t max_height);

}  // namespace xvgpu::simgpu
