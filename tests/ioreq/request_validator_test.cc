#include "ioreq/request_validator.h"

#include <gtest/gtest.h>

#include "ioreq_request.h"

namespace xvgpu::ioreq {
namespace {

using gpu::IoSpace;

ioreq_t make(uint8_t type, uint64_t addr, uint32_t size, uint32_t count = 1, bool read = true,
             bool ptr = false, bool df = false, uint64_t data = 0) {
  ioreq_t r = testing::make_ioreq(type, addr, size, count, read, ptr, df, data);
  r.state = STATE_IOREQ_READY;
  return r;
}

uint64_t config_addr(Sbdf s, uint32_t reg) {
  return uint64_t{s.seg} << 48 | uint64_t{s.bus} << 40 | uint64_t{s.dev} << 35 | uint64_t{s.fn} << 32 | reg;
}

class ValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    claims.add(IoSpace::Mmio, 0xf0000000, 0xf0003fff);
    claims.add(IoSpace::Mmio, 0xf0010000, 0xf001007f);  // a 128-byte BAR
    claims.add(IoSpace::Mmio, 0xf0020080, 0xf00200ff);  // a range starting inside its page
    claims.add(IoSpace::Port, 0xc000, 0xc0ff);
    claims.add_pci(dev);
  }
  std::optional<Refusal> check(const ioreq_t& r) { return validate_request(r, Channel::Sync, claims, out); }
  std::optional<Refusal> check_buffered(const ioreq_t& r) {
    return validate_request(r, Channel::Buffered, claims, out);
  }
  ClaimTable claims;
  Sbdf dev{0, 0, 5, 0};
  DecodedRequest out;
};

TEST_F(ValidatorTest, AcceptsEveryTypeInsideClaims) {
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000010, 4)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000010, 8)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0xc0fc, 4)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_PCI_CONFIG, config_addr(dev, 0x10), 4)), std::nullopt);
  EXPECT_EQ(out.sbdf, dev);
  EXPECT_EQ(out.addr, 0x10u);
  EXPECT_EQ(check(make(IOREQ_TYPE_INVALIDATE, 0, 4, 0, false)), std::nullopt);  // Xen leaves count 0
}

// Xen sends TIMEOFFSET only through the buffered ring and INVALIDATE only synchronously; the
// ring carries stdvga's MMIO writes and nothing else (docs/ioreq-conformance.md).
TEST_F(ValidatorTest, EachChannelCarriesWhatXenSendsOnIt) {
  EXPECT_EQ(check(make(IOREQ_TYPE_TIMEOFFSET, 0, 8, 1, false)), Refusal::BadType);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_TIMEOFFSET, 0, 8, 1, false)), std::nullopt);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_TIMEOFFSET, 0, 4, 1, false)), Refusal::BadBuffered);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_COPY, 0xf0000010, 2, 1, false)), std::nullopt);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_COPY, 0xf0000010, 8, 1, false)), std::nullopt);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_COPY, 0xf0000010, 2, 1, true)), Refusal::BadBuffered);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_PIO, 0xc0fc, 1, 1, false)), Refusal::BadBuffered);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_INVALIDATE, 0, 4, 0, false)), Refusal::BadBuffered);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_PCI_CONFIG, config_addr(dev, 0x10), 4, 1, false)),
            Refusal::BadBuffered);
  EXPECT_EQ(check_buffered(make(IOREQ_TYPE_COPY, 0xf0000010, 2, 2, false)), Refusal::BadBuffered);
}

// rep stos into MMIO (hvmemul_rep_stos) is the one request whose value is repeated: count
// items of `data`, upwards or (df) downwards. No other class repeats a value.
TEST_F(ValidatorTest, RepStosIsTheOnlyRepeatedValue) {
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000100, 2, 4, false)), std::nullopt);
  EXPECT_EQ(out.count, 4u);
  EXPECT_FALSE(out.data_is_ptr);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000106, 2, 4, false, false, true)), std::nullopt);
  EXPECT_TRUE(out.df);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 8, 512, false)), std::nullopt);  // a whole page
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 8, 513, false)), Refusal::BadCount);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000100, 2, 4, true)), Refusal::BadCount);  // no rep lods as one
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0xc010, 1, 4, false)), Refusal::BadCount);
  EXPECT_EQ(check(make(IOREQ_TYPE_PCI_CONFIG, config_addr(dev, 0x10), 1, 4, false)), Refusal::BadCount);
}

// Xen clips a rep at the page of its MMIO range and of its guest buffer; only a single item
// may straddle two pages.
TEST_F(ValidatorTest, RepsThatLeaveTheirPageAreRefused) {
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000ffc, 4, 2, false)), Refusal::CrossesPage);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0001000, 4, 2, false, false, true)), Refusal::CrossesPage);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0001004, 4, 2, false, false, true)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000ffe, 4, 1, true)), std::nullopt);  // one straddling item
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000ffc, 8, 1, false)), std::nullopt);
  // The guest buffer of rep ins/outs/movs.
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0xc010, 4, 2, true, true, false, 0x1ffc)), Refusal::CrossesPage);
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0xc010, 4, 1, true, true, false, 0x1ffe)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0xc010, 4, 2, true, true, true, 0x2000)), Refusal::CrossesPage);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 4, 16, false, true, false, 0x1ff0)),
            Refusal::CrossesPage);
  // rep outs to CFC: the same config register, items from one buffer page.
  EXPECT_EQ(check(make(IOREQ_TYPE_PCI_CONFIG, config_addr(dev, 0x10), 1, 4, false, true, false, 0x3000)),
            std::nullopt);
}

TEST_F(ValidatorTest, RefusesBadTypesAndSizes) {
  EXPECT_EQ(check(make(3, 0xf0000010, 4)), Refusal::BadType);
  EXPECT_EQ(check(make(0xff, 0xf0000010, 4)), Refusal::BadType);
  for (uint32_t size : {0u, 3u, 5u, 16u, 0xffffffffu})
    EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000010, size)), Refusal::BadSize) << size;
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0xc000, 8)), Refusal::BadSize);
  EXPECT_EQ(check(make(IOREQ_TYPE_PCI_CONFIG, config_addr(dev, 0), 8)), Refusal::BadSize);
}

TEST_F(ValidatorTest, RefusesBadCounts) {
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 4, 0, true, true, false, 0x1000)), Refusal::BadCount);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 4, 2, true, false)),
            Refusal::BadCount);  // reps need a buffer
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 4, 1025, true, true, false, 0x1000)), Refusal::BadCount);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 8, 0xffffffff, true, true, false, 0x1000)),
            Refusal::BadCount);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 4, 1024, true, true, false, 0x1000)), std::nullopt);
}

TEST_F(ValidatorTest, RepRangesFollowTheDirectionFlag) {
  // Forward: 16 dwords from 0xf0003fc0 end exactly at the claim's end.
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0003fc0, 4, 16, false, true, false, 0x1000)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0003fc4, 4, 16, false, true, false, 0x1000)),
            Refusal::CrossesPage);
  // Inside one page but past the end of a 128-byte claim.
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0010040, 4, 16, false, true, false, 0x1000)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0010044, 4, 16, false, true, false, 0x1000)), Refusal::Unclaimed);
  // Backward: 16 dwords ending at 0xf0000000 go below the claim's start when starting lower.
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf000003c, 4, 16, false, true, true, 0x2100)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000038, 4, 16, false, true, true, 0x2100)), Refusal::CrossesPage);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf00200bc, 4, 16, false, true, true, 0x2100)), std::nullopt);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf00200b8, 4, 16, false, true, true, 0x2100)), Refusal::Unclaimed);
  // A backward buffer that would go below 0, or a forward one past 2^64.
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf000003c, 4, 16, false, true, true, 0x10)), Refusal::BadBuffer);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0000000, 4, 16, false, true, false, ~uint64_t{0} - 8)),
            Refusal::BadBuffer);
}

TEST_F(ValidatorTest, RefusesAddressesOutsideClaimsOrWrapping) {
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xf0003ffe, 4)), Refusal::Unclaimed);  // straddles the end
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, 0xefffffff, 2)), Refusal::Unclaimed);
  EXPECT_EQ(check(make(IOREQ_TYPE_COPY, ~uint64_t{0}, 4)), Refusal::BadAddress);
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0xc100, 1)), Refusal::Unclaimed);
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0xfffe, 4)), Refusal::BadAddress);
  EXPECT_EQ(check(make(IOREQ_TYPE_PIO, 0x1c000, 1)), Refusal::BadAddress);
  EXPECT_EQ(check(make(IOREQ_TYPE_PCI_CONFIG, config_addr(Sbdf{0, 0, 6, 0}, 0), 4)), Refusal::Unclaimed);
  EXPECT_EQ(check(make(IOREQ_TYPE_PCI_CONFIG, config_addr(dev, 0xffe), 4)), Refusal::BadAddress);
  EXPECT_EQ(check(make(IOREQ_TYPE_PCI_CONFIG, config_addr(dev, 0xfffffffc), 4)), Refusal::BadAddress);
}

TEST(RepSpan, Bounds) {
  EXPECT_EQ(rep_span(0x1000, 4, 4, false)->last, 0x100fu);
  EXPECT_EQ(rep_span(0x1000, 4, 4, true)->first, 0xff4u);
  EXPECT_EQ(rep_span(0x1000, 4, 4, true)->last, 0x1003u);
  EXPECT_FALSE(rep_span(8, 4, 4, true));
  EXPECT_FALSE(rep_span(~uint64_t{0}, 1, 2, false));
  EXPECT_FALSE(rep_span(0, 0, 4, false));
}

}  // namespace
}  // namespace xvgpu::ioreq
