// The rule for guest accesses to a trapped BAR that do not match what the vendor handles.
//
// The vendor only ever sees naturally aligned accesses whose size lies in
// [access_min, access_max]. A guest access that is misaligned or wider than access_max is cut
// into the largest naturally aligned pieces, in ascending address order. The WHOLE access is
// refused (read all ones, write dropped, counted) when it runs past the region end, when its
// size is not 1/2/4/8, or when a piece would be narrower than access_min: a refused access is
// never partially applied.
#pragma once

#include <array>
#include <cstdint>

namespace xvgpu::gpu {

struct AccessPiece {
  uint64_t offset = 0;  // region-relative
  uint8_t size = 0;
  uint8_t shift = 0;  // bit position of this piece in the guest's value (little-endian)
};

struct AccessPlan {
  bool refused = true;
  unsigned count = 0;
  std::array<AccessPiece, 8> pieces{};
};

AccessPlan plan_access(uint64_t offset, unsigned size, uint64_t region_size, unsigned access_min,
                       unsigned access_max);

}  // namespace xvgpu::gpu
