// Validation of one engine descriptor before anything moves: every size, pitch and address
// is guest-controlled, so each rectangle is checked against VRAM, against 64-bit wrap-around
// and against the command ring before the engine touches a byte.
#pragma once

#include <cstdint>

#include "vendor/simgpu/engine_interface.h"

namespace xvgpu::simgpu {

// [first, first + length) in guest-physical or VRAM space.
struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
  [[nodiscard]] bool overlaps(const ByteRange& o) const {
    return length != 0 && o.length != 0 && first < o.first + o.length && o.first < first + length;
  }
};

// Where one row-wise transfer reads and writes.
struct CheckedDescriptor {
  uint32_t error = engine::kErrorNone;
  ByteRange src;       // extent of the source rectangle (guest or VRAM, by opcode); empty for fill
  ByteRange dst;       // extent of the destination rectangle
  uint64_t bytes = 0;  // width * height: what the descriptor moves
};

// ring: the guest memory holding the command ring (writes into it are refused).
CheckedDescriptor check_descriptor(const engine::Descriptor& d, uint64_t vram_size, ByteRange ring);

}  // namespace xvgpu::simgpu
