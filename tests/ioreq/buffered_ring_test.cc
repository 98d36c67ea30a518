#include "ioreq/buffered_ring.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

namespace xvgpu::ioreq {
namespace {

// Xen's producer side, as ioreq_send_buffered does it (with BUFIOREQ_ATOMIC canonicalisation).
class Producer {
 public:
  explicit Producer(buffered_iopage_t* p) : page(p) {}
  bool post(uint8_t type, uint32_t addr, uint8_t size, uint64_t data) {
    const bool qw = size == 8;
    if (page->write_pointer - page->read_pointer >= IOREQ_BUFFER_SLOT_NUM - (qw ? 1 : 0)) return false;
    buf_ioreq_t bp{};
    bp.type = type;
    bp.dir = IOREQ_WRITE;
    bp.size = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
    bp.addr = addr & 0xfffff;
    bp.data = static_cast<uint32_t>(data);
    page->buf_ioreq[page->write_pointer % IOREQ_BUFFER_SLOT_NUM] = bp;
    if (qw) {
      bp.data = static_cast<uint32_t>(data >> 32);
      page->buf_ioreq[(page->write_pointer + 1) % IOREQ_BUFFER_SLOT_NUM] = bp;
    }
    page->write_pointer += qw ? 2 : 1;
    if (page->read_pointer >= IOREQ_BUFFER_SLOT_NUM) {
      const uint32_t n = page->read_pointer / IOREQ_BUFFER_SLOT_NUM;
      page->read_pointer -= n * IOREQ_BUFFER_SLOT_NUM;
      page->write_pointer -= n * IOREQ_BUFFER_SLOT_NUM;
    }
    return true;
  }
  buffered_iopage_t* page;
};

struct Page {
  Page() : mem(std::make_unique<buffered_iopage_t>()) {
    std::memset(mem.get(), 0, sizeof(buffered_iopage_t));
  }
  std::unique_ptr<buffered_iopage_t> mem;
};

TEST(BufferedRing, EmptyRingYieldsNothing) {
  Page p;
  BufferedRing ring(p.mem.get());
  ioreq_t r;
  EXPECT_EQ(ring.pop(r), BufferedRing::Pop::Empty);
}

TEST(BufferedRing, DecodesSizesAndEightByteWritesFromTwoSlots) {
  Page p;
  Producer xen(p.mem.get());
  BufferedRing ring(p.mem.get());
  ASSERT_TRUE(xen.post(IOREQ_TYPE_COPY, 0xa0010, 1, 0x12));
  ASSERT_TRUE(xen.post(IOREQ_TYPE_PIO, 0x3c0, 2, 0x3456));
  ASSERT_TRUE(xen.post(IOREQ_TYPE_TIMEOFFSET, 0, 8, 0xfedcba9876543210ull));
  ioreq_t r;
  ASSERT_EQ(ring.pop(r), BufferedRing::Pop::Request);
  EXPECT_EQ(r.type, IOREQ_TYPE_COPY);
  EXPECT_EQ(r.addr, 0xa0010u);
  EXPECT_EQ(r.size, 1u);
  EXPECT_EQ(r.data, 0x12u);
  EXPECT_EQ(r.count, 1u);
  EXPECT_EQ(r.dir, IOREQ_WRITE);
  ASSERT_EQ(ring.pop(r), BufferedRing::Pop::Request);
  EXPECT_EQ(r.type, IOREQ_TYPE_PIO);
  EXPECT_EQ(r.size, 2u);
  EXPECT_EQ(r.data, 0x3456u);
  ASSERT_EQ(ring.pop(r), BufferedRing::Pop::Request);
  EXPECT_EQ(r.type, IOREQ_TYPE_TIMEOFFSET);
  EXPECT_EQ(r.size, 8u);
  EXPECT_EQ(r.data, 0xfedcba9876543210ull);
  EXPECT_EQ(ring.pop(r), BufferedRing::Pop::Empty);
  EXPECT_EQ(p.mem->read_pointer, 4u);
}

TEST(BufferedRing, WrapsAroundIncludingAPairSplitAcrossTheEnd) {
  Page p;
  Producer xen(p.mem.get());
  BufferedRing ring(p.mem.get());
  ioreq_t r;
  uint64_t expected = 0;
  // Many rounds: the pointers wrap past 511 repeatedly and Xen canonicalises them; 8-byte
  // pairs regularly straddle slot 510 -> 0.
  for (uint64_t i = 0; i < 5000; ++i) {
    const uint8_t size = (i % 3 == 0) ? 8 : 4;
    const uint64_t value = size == 8 ? (i << 32 | (i ^ 0xabcdef)) : i;
    ASSERT_TRUE(xen.post(IOREQ_TYPE_COPY, static_cast<uint32_t>(i), size, value));
    if (i % 7 == 6) {  // consume in bursts
      while (ring.pop(r) == BufferedRing::Pop::Request) {
        const uint64_t j = expected++;
        const uint64_t want = (j % 3 == 0) ? (j << 32 | (j ^ 0xabcdef)) : j;
        ASSERT_EQ(r.data, want) << j;
        ASSERT_EQ(r.addr, j & 0xfffff);
      }
    }
  }
  while (ring.pop(r) == BufferedRing::Pop::Request) ++expected;
  EXPECT_EQ(expected, 5000u);
  EXPECT_LT(p.mem->read_pointer, 2 * IOREQ_BUFFER_SLOT_NUM);
}

TEST(BufferedRing, FullRingDrainsCompletely) {
  Page p;
  Producer xen(p.mem.get());
  BufferedRing ring(p.mem.get());
  unsigned posted = 0;
  while (xen.post(IOREQ_TYPE_PIO, 0x80, 1, posted)) ++posted;
  EXPECT_EQ(posted, IOREQ_BUFFER_SLOT_NUM);
  ioreq_t r;
  unsigned got = 0;
  while (ring.pop(r) == BufferedRing::Pop::Request) EXPECT_EQ(r.data, got++ & 0xffffffffu);
  EXPECT_EQ(got, posted);
}

TEST(BufferedRing, HalfPublishedPairIsNotConsumed) {
  Page p;
  BufferedRing ring(p.mem.get());
  buf_ioreq_t lo{};
  lo.type = IOREQ_TYPE_COPY;
  lo.size = 3;
  lo.data = 1;
  p.mem->buf_ioreq[0] = lo;
  p.mem->write_pointer = 1;  // only the first half visible
  ioreq_t r;
  EXPECT_EQ(ring.pop(r), BufferedRing::Pop::Empty);
  EXPECT_EQ(p.mem->read_pointer, 0u);
}

TEST(BufferedRing, CorruptPointersAreSkippedNotParsed) {
  Page p;
  BufferedRing ring(p.mem.get());
  p.mem->read_pointer = 5;
  p.mem->write_pointer = 5 + 4000;  // more than the ring holds
  ioreq_t r;
  EXPECT_EQ(ring.pop(r), BufferedRing::Pop::Malformed);
  EXPECT_EQ(p.mem->read_pointer, p.mem->write_pointer);
  EXPECT_EQ(ring.pop(r), BufferedRing::Pop::Empty);
}

}  // namespace
}  // namespace xvgpu::ioreq
