// The core's console inputs: vendor damage reports (ABI 1.2) and the dirty-log fan-out.
#include <gtest/gtest.h>

#include <cerrno>

#include "gpu/dirty_page_fanout.h"
#include "gpu/display_damage.h"
#include "support/fake_platform.h"

namespace xvgpu::gpu {
namespace {

xvgpu_display_damage report(uint32_t flags, const std::vector<xvgpu_rect>& rects, uint32_t head = 0) {
  xvgpu_display_damage d{};
  d.struct_size = XVGPU_INIT(xvgpu_display_damage);
  d.head = head;
  d.flags = flags;
  d.num_rects = static_cast<uint32_t>(rects.size());
  d.rects = rects.empty() ? nullptr : rects.data();
  return d;
}

TEST(DisplayDamage, RectanglesAreKeptPerHeadUntilTaken) {
  DisplayDamage dd;
  const std::vector<xvgpu_rect> a = {{1, 2, 3, 4}, {0, 0, 0, 9}};  // the empty one is dropped
  auto r = report(0, a);
  ASSERT_EQ(dd.record(&r), 0);
  const std::vector<xvgpu_rect> b = {{5, 5, 1, 1}};
  auto r1 = report(0, b, 1);
  ASSERT_EQ(dd.record(&r1), 0);
  EXPECT_EQ(dd.take(0).rects, (std::vector<Rect>{{1, 2, 3, 4}}));
  EXPECT_TRUE(dd.take(0).rects.empty());
  EXPECT_EQ(dd.take(1).rects, (std::vector<Rect>{{5, 5, 1, 1}}));
}

TEST(DisplayDamage, SurfaceChangeSupersedesRectangles) {
  DisplayDamage dd;
  const std::vector<xvgpu_rect> a = {{1, 2, 3, 4}};
  auto r = report(0, a);
  ASSERT_EQ(dd.record(&r), 0);
  auto c = report(XVGPU_DAMAGE_SURFACE_CHANGED, {});
  ASSERT_EQ(dd.record(&c), 0);
  ASSERT_EQ(dd.record(&r), 0);
  const HeadDamage h = dd.take(0);
  EXPECT_TRUE(h.surface_changed);
  EXPECT_TRUE(h.rects.empty());
}

TEST(DisplayDamage, ManyRectanglesCollapseIntoTheirBoundingBox) {
  DisplayDamage dd;
  std::vector<xvgpu_rect> many;
  for (uint32_t k = 0; k < DisplayDamage::kMaxRects + 1; ++k) many.push_back({k, 2 * k, 1, 1});
  auto r = report(0, many);
  ASSERT_EQ(dd.record(&r), 0);
  const auto n = static_cast<uint32_t>(DisplayDamage::kMaxRects);
  EXPECT_EQ(dd.take(0).rects, (std::vector<Rect>{{0, 0, n + 1, 2 * n + 1}}));
}

TEST(DisplayDamage, MalformedReportsAreRefusedAndNothingIsRecorded) {
  DisplayDamage dd;
  EXPECT_EQ(dd.record(nullptr), -EINVAL);
  auto r = report(0, {});
  r.num_rects = 1;  // without rects
  EXPECT_EQ(dd.record(&r), -EINVAL);
  r = report(0x80, {});
  EXPECT_EQ(dd.record(&r), -EINVAL) << "unknown flag";
  r = report(0, {});
  r.num_rects = XVGPU_DAMAGE_MAX_RECTS + 1;
  EXPECT_EQ(dd.record(&r), -EINVAL);
  r = report(0, {}, DisplayDamage::kMaxHeads);
  EXPECT_EQ(dd.record(&r), -EINVAL);
  r = report(0, {});
  r.struct_size = 8;
  EXPECT_EQ(dd.record(&r), -EINVAL);
  for (uint32_t head = 0; head < DisplayDamage::kMaxHeads; ++head) {
    const HeadDamage d = dd.take(head);
    EXPECT_FALSE(d.surface_changed) << "head " << head;
    EXPECT_TRUE(d.rects.empty()) << "head " << head;
  }
}

TEST(DirtyPageFanout, EachReaderSeesEveryPageOnce) {
  test::FakeDirectRegion region(64 * kPageSize * 2);
  DirtyPageFanout f;
  std::vector<uint64_t> bits;
  region.touch(3);
  f.take(region, DirtyReader::Vendor, bits);
  ASSERT_EQ(bits.size(), 2u);
  EXPECT_EQ(bits[0], uint64_t{1} << 3);
  region.touch(70);
  f.take(region, DirtyReader::Console, bits);
  EXPECT_EQ(bits[0], uint64_t{1} << 3) << "the vendor's read did not take it from the console";
  EXPECT_EQ(bits[1], uint64_t{1} << 6);
  f.take(region, DirtyReader::Console, bits);
  EXPECT_EQ(bits[0] | bits[1], 0u);
  f.take(region, DirtyReader::Vendor, bits);
  EXPECT_EQ(bits[0], 0u);
  EXPECT_EQ(bits[1], uint64_t{1} << 6);
}

}  // namespace
}  // namespace xvgpu::gpu
