#include "vendor/simgpu/descriptor_check.h"

#include <limits>

namespace xvgpu::simgpu {

namespace {

using namespace engine;

// Extent of a rectangle: (height - 1) rows of pitch plus one row. Inputs are 32-bit, so this
// cannot overflow 64 bits.
uint64_t extent_of(uint32_t width, uint32_t height, uint32_t pitch) {
  return uint64_t{height - 1} * pitch + width;
}

bool in_vram(const ByteRange& r, uint64_t vram_size) {
  return r.first <= vram_size && r.length <= vram_size - r.first;
}

bool no_wrap(const ByteRange& r) {
  return r.first <= std::numeric_limits<uint64_t>::max() - r.length;
}

}  // namespace

CheckedDescriptor check_descriptor(const Descriptor& d, uint64_t vram_size, ByteRange ring) {
  CheckedDescriptor c;
  const auto fail = [&c](uint32_t error) {
    c.error = error;
    return c;
  };
  if (d.opcode < kOpCopyToVram || d.opcode > kOpBlit) return fail(kErrorBadOpcode);
  if ((d.flags & ~kKnownFlags) != 0 || d.reserved0 != 0 || d.reserved1[0] != 0 || d.reserved1[1] != 0 ||
      d.reserved1[2] != 0) {
    return fail(kErrorBadFlags);
  }
  if (d.width == 0 || d.height == 0) return fail(kErrorBadGeometry);
  const bool has_src = d.opcode != kOpFill;
  // Rows of one rectangle must not overlap each other.
  if (d.height > 1 && (d.dst_pitch < d.width || (has_src && d.src_pitch < d.width)))
    return fail(kErrorBadGeometry);
  if (d.opcode == kOpFill && d.width % 4 != 0) return fail(kErrorBadGeometry);
  c.bytes = uint64_t{d.width} * d.height;
  const uint64_t dst_extent = d.height > 1 ? extent_of(d.width, d.height, d.dst_pitch) : d.width;
  const uint64_t src_extent = d.height > 1 ? extent_of(d.width, d.height, d.src_pitch) : d.width;
  if (c.bytes > kMaxBytesPerDescriptor || dst_extent > kMaxBytesPerDescriptor ||
      (has_src && src_extent > kMaxBytesPerDescriptor)) {
    return fail(kErrorBadGeometry);
  }
  c.dst = ByteRange{d.dst, dst_extent};
  if (has_src) c.src = ByteRange{d.src, src_extent};

  const bool src_in_vram = d.opcode == kOpCopyFromVram || d.opcode == kOpBlit;
  const bool dst_in_vram = d.opcode != kOpCopyFromVram;
  if (has_src && (src_in_vram ? !in_vram(c.src, vram_size) : !no_wrap(c.src))) {
    return fail(src_in_vram ? kErrorVramRange : kErrorGuestRange);
  }
  if (dst_in_vram ? !in_vram(c.dst, vram_size) : !no_wrap(c.dst)) {
    return fail(dst_in_vram ? kErrorVramRange : kErrorGuestRange);
  }
  if (d.opcode == kOpBlit && c.src.overlaps(c.dst)) return fail(kErrorOverlap);
  // A copy to guest memory must not rewrite the ring the engine is reading.
  if (d.opcode == kOpCopyFromVram && c.dst.overlaps(ring)) return fail(kErrorOverlap);
  return c;
}

}  // namespace xvgpu::simgpu
