#include "ioreq/ioreq_trace.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "ioreq_request.h"

namespace xvgpu::ioreq {
namespace {

ioreq_t req(uint8_t type, uint64_t addr, uint32_t size, uint32_t count, bool read, bool ptr = false,
            bool df = false, uint64_t data = 0) {
  return testing::make_ioreq(type, addr, size, count, read, ptr, df, data);
}

TEST(IoreqTrace, KeepsEachShapeOnceWithItsCountAndNoValues) {
  IoreqTrace t;
  t.record(Channel::Sync, req(IOREQ_TYPE_COPY, 0xf1000506, 2, 4, false, false, false, 0x1111), std::nullopt);
  t.record(Channel::Sync, req(IOREQ_TYPE_COPY, 0xf1000506, 2, 4, false, false, false, 0x2222), std::nullopt);
  t.record(Channel::Sync, req(IOREQ_TYPE_COPY, 0xf1000506, 2, 4, true), Refusal::BadCount);
  const auto shapes = t.shapes();
  ASSERT_EQ(shapes.size(), 2u);
  uint64_t total = 0;
  for (const auto& [s, n] : shapes) total += n;
  EXPECT_EQ(total, 3u);
  for (const auto& [s, n] : shapes) {
    if (s.dir == IOREQ_WRITE) {
      EXPECT_EQ(n, 2u);
      EXPECT_FALSE(s.refusal);
    } else {
      EXPECT_EQ(s.refusal, Refusal::BadCount);
    }
  }
}

TEST(IoreqTrace, KeepsOnlyTheBufferPageOffset) {
  IoreqTrace t;
  t.record(Channel::Sync, req(IOREQ_TYPE_PIO, 0x1f0, 2, 16, true, true, false, 0x12345ff0), std::nullopt);
  t.record(Channel::Sync, req(IOREQ_TYPE_PIO, 0x1f0, 2, 16, true, true, false, 0x99999ff0), std::nullopt);
  const auto shapes = t.shapes();
  ASSERT_EQ(shapes.size(), 1u);
  EXPECT_EQ(shapes[0].first.buffer_offset, 0xff0u);
  EXPECT_EQ(shapes[0].second, 2u);
}

TEST(IoreqTrace, IsBoundedAndCountsWhatItDidNotKeep) {
  IoreqTrace t(8);
  for (uint64_t i = 0; i < 20; ++i)
    t.record(Channel::Sync, req(IOREQ_TYPE_COPY, 0x1000 + i, 1, 1, true), std::nullopt);
  t.record(Channel::Sync, req(IOREQ_TYPE_COPY, 0x1000, 1, 1, true),
           std::nullopt);  // a kept shape still counts
  EXPECT_EQ(t.shapes().size(), 8u);
  EXPECT_EQ(t.dropped(), 12u);
  EXPECT_EQ(t.shapes()[0].second, 2u);
}

TEST(IoreqTrace, LinesRoundTrip) {
  TracedShape s = shape_of(Channel::Buffered, req(IOREQ_TYPE_TIMEOFFSET, 0, 8, 1, false), std::nullopt);
  auto [back, n] = parse_shape(format_shape(s, 7));
  EXPECT_EQ(back, s);
  EXPECT_EQ(n, 7u);
  s = shape_of(Channel::Sync,
               req(IOREQ_TYPE_PCI_CONFIG, uint64_t{5} << 35 | 0x10, 4, 3, true, true, true, 0x2008),
               Refusal::CrossesPage);
  const std::string line = format_shape(s, 1);
  EXPECT_EQ(
      line,
      "sync pci read size=4 count=3 ptr=1 df=1 addr=0x2800000010 bufoff=0x8 refused:rep-crosses-a-page n=1");
  std::tie(back, n) = parse_shape(line);
  EXPECT_EQ(back, s);
  EXPECT_THROW((void)parse_shape("sync mmio sideways size=1"), Error);
  EXPECT_THROW((void)parse_shape("sync mmio read size=1 count=1 ptr=0 df=0 addr=0 bufoff=0 maybe n=1"),
               Error);
}

TEST(IoreqTrace, WritesAHeaderEveryShapeAndTheDroppedCount) {
  IoreqTrace t(1);
  t.record(Channel::Sync, req(IOREQ_TYPE_INVALIDATE, 0, 4, 0, false, false, false, ~uint64_t{0}),
           std::nullopt);
  t.record(Channel::Sync, req(IOREQ_TYPE_COPY, 0x1000, 1, 1, true), std::nullopt);
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  ASSERT_NE(f, nullptr);
  t.write(f);
  std::fclose(f);
  const std::string text(buf, len);
  std::free(buf);  // NOLINT(cppcoreguidelines-no-malloc): open_memstream's buffer
  EXPECT_EQ(text,
            "# xvgpu ioreq trace v1: 1 shapes\n"
            "sync invalidate write size=4 count=0 ptr=0 df=0 addr=0x0 bufoff=0x0 served n=1\n"
            "# not kept: 1 requests\n");
}

}  // namespace
}  // namespace xvgpu::ioreq
