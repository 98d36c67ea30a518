#include "vendor/simgpu/descriptor_check.h"

#include <gtest/gtest.h>

#include "descriptors.h"

namespace xvgpu::simgpu {
namespace {

using namespace engine;
constexpr uint64_t kVram = 16u << 20;
constexpr ByteRange kRing{0x10000, 64 * 16};

Descriptor linear(uint32_t op, uint64_t src, uint64_t dst, uint32_t len) {
  return test::linear_copy(op, src, dst, len, 0, false);
}

TEST(DescriptorCheck, AcceptsWellFormedDescriptors) {
  auto c = check_descriptor(linear(kOpCopyToVram, 0x200000, 0, 4096), kVram, kRing);
  EXPECT_EQ(c.error, kErrorNone);
  EXPECT_EQ(c.bytes, 4096u);
  EXPECT_EQ(c.src.first, 0x200000u);
  Descriptor r = linear(kOpBlit, 0, 8192, 256);
  r.height = 16;
  r.src_pitch = 512;
  r.dst_pitch = 1024;
  c = check_descriptor(r, kVram, kRing);
  EXPECT_EQ(c.error, kErrorNone);
  EXPECT_EQ(c.src.length, 15u * 512 + 256);
  EXPECT_EQ(c.dst.length, 15u * 1024 + 256);
  // The last byte of VRAM is reachable.
  EXPECT_EQ(check_descriptor(linear(kOpCopyToVram, 0x200000, kVram - 1, 1), kVram, kRing).error, kErrorNone);
}

TEST(DescriptorCheck, RejectsMalformedFields) {
  EXPECT_EQ(check_descriptor(linear(0, 0, 0, 4), kVram, kRing).error, kErrorBadOpcode);
  EXPECT_EQ(check_descriptor(linear(99, 0, 0, 4), kVram, kRing).error, kErrorBadOpcode);
  Descriptor d = linear(kOpFill, 0, 0, 4);
  d.flags = 0x80;
  EXPECT_EQ(check_descriptor(d, kVram, kRing).error, kErrorBadFlags);
  d = linear(kOpFill, 0, 0, 4);
  d.reserved1[2] = 1;
  EXPECT_EQ(check_descriptor(d, kVram, kRing).error, kErrorBadFlags);
  EXPECT_EQ(check_descriptor(linear(kOpFill, 0, 0, 0), kVram, kRing).error, kErrorBadGeometry);
  EXPECT_EQ(check_descriptor(linear(kOpFill, 0, 0, 6), kVram, kRing).error, kErrorBadGeometry) << "fill % 4";
  d = linear(kOpBlit, 0, 4096, 64);
  d.height = 2;
  d.src_pitch = 32;  // rows overlap
  d.dst_pitch = 64;
  EXPECT_EQ(check_descriptor(d, kVram, kRing).error, kErrorBadGeometry);
}

TEST(DescriptorCheck, RejectsHugeCountsWithoutOverflow) {
  Descriptor d = linear(kOpCopyToVram, 0, 0, 0xffffffff);
  d.height = 0xffffffff;
  d.src_pitch = 0xffffffff;
  d.dst_pitch = 0xffffffff;
  EXPECT_EQ(check_descriptor(d, kVram, kRing).error, kErrorBadGeometry);
  d = linear(kOpFill, 0, 0, 4);
  d.height = 0x10000;
  d.dst_pitch = 0x10000;  // 4 GiB extent for 256 KiB of data
  EXPECT_EQ(check_descriptor(d, kVram, kRing).error, kErrorBadGeometry);
}

TEST(DescriptorCheck, RejectsOutOfRange) {
  EXPECT_EQ(check_descriptor(linear(kOpCopyToVram, 0x200000, kVram - 1, 2), kVram, kRing).error,
            kErrorVramRange);
  EXPECT_EQ(check_descriptor(linear(kOpCopyToVram, 0x200000, ~uint64_t{0}, 16), kVram, kRing).error,
            kErrorVramRange);
  EXPECT_EQ(check_descriptor(linear(kOpCopyFromVram, kVram, 0x200000, 1), kVram, kRing).error,
            kErrorVramRange);
  EXPECT_EQ(check_descriptor(linear(kOpCopyToVram, ~uint64_t{0} - 3, 0, 16), kVram, kRing).error,
            kErrorGuestRange)
      << "guest address wraps";
  EXPECT_EQ(check_descriptor(linear(kOpCopyFromVram, 0, ~uint64_t{0} - 3, 16), kVram, kRing).error,
            kErrorGuestRange);
}

TEST(DescriptorCheck, RejectsOverlaps) {
  EXPECT_EQ(check_descriptor(linear(kOpBlit, 0, 100, 200), kVram, kRing).error, kErrorOverlap);
  EXPECT_EQ(check_descriptor(linear(kOpBlit, 100, 0, 200), kVram, kRing).error, kErrorOverlap);
  EXPECT_EQ(check_descriptor(linear(kOpBlit, 0, 200, 200), kVram, kRing).error, kErrorNone)
      << "adjacent is fine";
  EXPECT_EQ(
      check_descriptor(linear(kOpCopyFromVram, 0, kRing.first + kRing.length - 1, 8), kVram, kRing).error,
      kErrorOverlap)
      << "a copy into the command ring";
  EXPECT_EQ(check_descriptor(linear(kOpCopyToVram, kRing.first, 0, 64), kVram, kRing).error, kErrorNone)
      << "reading the ring is harmless";
}

}  // namespace
}  // namespace xvgpu::simgpu
