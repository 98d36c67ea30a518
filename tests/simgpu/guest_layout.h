// Where the tests' guests put a simgpu: slot 05 of bus 0, its BARs placed as firmware would.
#pragma once

#include <cstdint>

#include "common/types.h"

namespace xvgpu::simgpu::test {

inline constexpr uint64_t kBar0 = 0xe0000000;  // VRAM (direct)
inline constexpr uint64_t kBar2 = 0xfebf0000;  // display registers
inline constexpr uint64_t kBar4 = 0xfebf1000;  // engine
inline const Sbdf kSbdf{0, 0, 5, 0};

}  // namespace xvgpu::simgpu::test
