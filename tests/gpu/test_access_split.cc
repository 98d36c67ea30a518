#include "gpu/access_split.h"

#include <gtest/gtest.h>

namespace xvgpu::gpu {
namespace {

TEST(AccessSplit, AlignedAccessInRangeIsOnePiece) {
  const auto p = plan_access(0x10, 4, 0x1000, 1, 8);
  ASSERT_FALSE(p.refused);
  ASSERT_EQ(p.count, 1u);
  EXPECT_EQ(p.pieces[0].offset, 0x10u);
  EXPECT_EQ(p.pieces[0].size, 4);
}

TEST(AccessSplit, WideAccessSplitsIntoAlignedPieces) {
  const auto p = plan_access(0x10, 8, 0x1000, 1, 4);  // 32-bit registers only
  ASSERT_FALSE(p.refused);
  ASSERT_EQ(p.count, 2u);
  EXPECT_EQ(p.pieces[0].offset, 0x10u);
  EXPECT_EQ(p.pieces[1].offset, 0x14u);
  EXPECT_EQ(p.pieces[1].shift, 32);
}

TEST(AccessSplit, MisalignedAccessSplitsAscending) {
  const auto p = plan_access(0x3, 4, 0x1000, 1, 8);
  ASSERT_FALSE(p.refused);
  ASSERT_EQ(p.count, 3u);
  EXPECT_EQ(p.pieces[0].offset, 0x3u);
  EXPECT_EQ(p.pieces[0].size, 1);
  EXPECT_EQ(p.pieces[1].offset, 0x4u);
  EXPECT_EQ(p.pieces[1].size, 2);
  EXPECT_EQ(p.pieces[2].offset, 0x6u);
  EXPECT_EQ(p.pieces[2].size, 1);
  EXPECT_EQ(p.pieces[2].shift, 24);
}

TEST(AccessSplit, PieceBelowMinimumRefusesTheWholeAccess) {
  EXPECT_TRUE(plan_access(0x2, 4, 0x1000, 4, 4).refused);
  EXPECT_TRUE(plan_access(0x0, 2, 0x1000, 4, 4).refused);
  EXPECT_FALSE(plan_access(0x4, 4, 0x1000, 4, 4).refused);
}

TEST(AccessSplit, StraddlingTheRegionEndIsRefused) {
  EXPECT_TRUE(plan_access(0xffe, 4, 0x1000, 1, 8).refused);
  EXPECT_TRUE(plan_access(0x1000, 1, 0x1000, 1, 8).refused);
  EXPECT_TRUE(plan_access(~uint64_t{0}, 8, 0x1000, 1, 8).refused) << "no overflow";
  EXPECT_FALSE(plan_access(0xffc, 4, 0x1000, 1, 8).refused);
}

TEST(AccessSplit, OddSizesAreRefused) {
  EXPECT_TRUE(plan_access(0, 3, 0x1000, 1, 8).refused);
  EXPECT_TRUE(plan_access(0, 0, 0x1000, 1, 8).refused);
  EXPECT_TRUE(plan_access(0, 16, 0x1000, 1, 8).refused);
}

}  // namespace
}  // namespace xvgpu::gpu
