#include "ioreq/request_dispatcher.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "ioreq_request.h"
#include "test_devices.h"

namespace xvgpu::ioreq {
namespace {

using gpu::AddressSpace;
using gpu::IoSpace;
using testing::RegisterFile;
using testing::VectorMemory;

constexpr uint64_t kBar = 0xf0000000;
const Sbdf kDev{0, 0, 5, 0};

ioreq_t req(uint8_t type, uint64_t addr, uint32_t size, bool read, uint64_t data = 0, uint32_t count = 1,
            bool ptr = false, bool df = false) {
  return testing::make_ioreq(type, addr, size, count, read, ptr, df, data);
}

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() : mem(64 * 1024), dispatcher(Domid{1}, claims, mem, stats) {
    claims.add(IoSpace::Mmio, kBar, kBar + 0x3fff);
    claims.add(IoSpace::Port, 0xc000, 0xc0ff);
    claims.add_pci(kDev);
  }
  uint64_t serve(const ioreq_t& r, unsigned vcpu = 0) { return dispatcher.serve(r, VcpuId{vcpu}, dev); }

  ClaimTable claims;
  VectorMemory mem;
  IoreqStats stats;
  RegisterFile dev;
  RequestDispatcher dispatcher;
};

TEST_F(DispatcherTest, SingleMmioWriteThenReadReachesTheDevice) {
  serve(req(IOREQ_TYPE_COPY, kBar + 8, 4, false, 0xffffffff12345678ull));  // upper bits are guest junk
  EXPECT_EQ(serve(req(IOREQ_TYPE_COPY, kBar + 8, 4, true), 3), 0x12345678u);
  const auto log = dev.log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].access.space, AddressSpace::Mmio);
  EXPECT_EQ(log[0].value, 0x12345678u);  // masked to the access size
  EXPECT_EQ(log[1].access.vcpu, VcpuId{3});
  EXPECT_EQ(stats.refused_total(), 0u);
}

TEST_F(DispatcherTest, EightByteMmioAndPortAndConfig) {
  serve(req(IOREQ_TYPE_COPY, kBar + 0x10, 8, false, 0x0123456789abcdefull));
  EXPECT_EQ(serve(req(IOREQ_TYPE_COPY, kBar + 0x10, 8, true)), 0x0123456789abcdefull);
  serve(req(IOREQ_TYPE_PIO, 0xc004, 2, false, 0xbeef));
  EXPECT_EQ(serve(req(IOREQ_TYPE_PIO, 0xc004, 2, true)), 0xbeefu);
  const uint64_t cfg = uint64_t{kDev.dev} << 35 | 0x3c;
  serve(req(IOREQ_TYPE_PCI_CONFIG, cfg, 1, false, 0x0b));
  EXPECT_EQ(serve(req(IOREQ_TYPE_PCI_CONFIG, cfg, 1, true)), 0x0bu);
  const auto log = dev.log();
  EXPECT_EQ(log.back().access.space, AddressSpace::PciConfig);
  EXPECT_EQ(log.back().access.sbdf, kDev);
  EXPECT_EQ(log.back().access.addr, 0x3cu);
}

TEST_F(DispatcherTest, RepWriteForwardCopiesGuestBufferIntoSuccessiveRegisters) {
  for (uint32_t i = 0; i < 8; ++i) {
    const uint32_t v = 0x1000 + i;
    std::memcpy(mem.ram.data() + 0x2000 + 4 * i, &v, 4);
  }
  serve(req(IOREQ_TYPE_COPY, kBar + 0x100, 4, false, 0x2000, 8, true, false));
  const auto log = dev.log();
  ASSERT_EQ(log.size(), 8u);
  for (uint32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(log[i].access.addr, kBar + 0x100 + 4 * i);
    EXPECT_EQ(log[i].value, 0x1000u + i);
  }
}

TEST_F(DispatcherTest, RepReadBackwardWalksDeviceAndBufferDownwards) {
  serve(req(IOREQ_TYPE_COPY, kBar + 0x20, 4, true, 0x3100, 4, true, true));
  const auto log = dev.log();
  ASSERT_EQ(log.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    const uint64_t addr = kBar + 0x20 - 4 * i;
    EXPECT_EQ(log[i].access.addr, addr);
    uint32_t got = 0;
    std::memcpy(&got, mem.ram.data() + 0x3100 - 4 * i, 4);
    EXPECT_EQ(got, RegisterFile::pattern(addr, 4));
  }
}

// rep stos: Xen sends one request whose value is stored count times (data_is_ptr 0).
TEST_F(DispatcherTest, RepStosWritesTheValueToEachItemUpwards) {
  EXPECT_EQ(serve(req(IOREQ_TYPE_COPY, kBar + 0x100, 2, false, 0xffffffff0000abcdull, 4)),
            0xffffffff0000abcdull);
  const auto log = dev.log();
  ASSERT_EQ(log.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(log[i].access.addr, kBar + 0x100 + 2 * i);
    EXPECT_EQ(log[i].access.size, 2u);
    EXPECT_EQ(log[i].value, 0xabcdu);  // masked to the item size
  }
  EXPECT_EQ(stats.items.load(), 4u);
  EXPECT_EQ(stats.refused_total(), 0u);
  EXPECT_EQ(mem.maps, 0);  // the value is in the request: no guest memory touched
}

TEST_F(DispatcherTest, RepStosWithDirectionFlagWritesDownwards) {
  serve(req(IOREQ_TYPE_COPY, kBar + 0x206, 2, false, 0x5a5a, 4, false, true));
  const auto log = dev.log();
  ASSERT_EQ(log.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(log[i].access.addr, kBar + 0x206 - 2 * i);
    EXPECT_EQ(log[i].value, 0x5a5au);
  }
}

TEST_F(DispatcherTest, RepStosOfQuadwordsFillsAPage) {
  serve(req(IOREQ_TYPE_COPY, kBar + 0x1000, 8, false, 0x0102030405060708ull, 512));
  const auto log = dev.log();
  ASSERT_EQ(log.size(), 512u);
  EXPECT_EQ(log.front().access.addr, kBar + 0x1000);
  EXPECT_EQ(log.back().access.addr, kBar + 0x1ff8);
  EXPECT_EQ(log.back().value, 0x0102030405060708ull);
}

TEST_F(DispatcherTest, RepPortInputKeepsThePortFixed) {
  serve(req(IOREQ_TYPE_PIO, 0xc010, 1, true, 0x4000, 16, true, false));
  const auto log = dev.log();
  ASSERT_EQ(log.size(), 16u);
  for (const auto& a : log) EXPECT_EQ(a.access.addr, 0xc010u);
  EXPECT_EQ(mem.maps, 1);  // the buffer is pinned once for the whole rep
}

TEST_F(DispatcherTest, RepWithBufferInAHoleIsRefusedWithoutDeviceAccess) {
  mem.holes.insert(5);
  serve(req(IOREQ_TYPE_COPY, kBar, 4, false, 0x5ff0, 4, true, false));  // buffer in page 5
  EXPECT_TRUE(dev.log().empty());
  EXPECT_EQ(stats.refused_for(Refusal::BadBuffer), 1u);
}

TEST_F(DispatcherTest, RepReadIntoABadBufferNeverReadsTheDevice) {
  mem.holes.insert(6);
  serve(req(IOREQ_TYPE_COPY, kBar, 4, true, 0x6000, 4, true, false));  // device reads may have side effects
  EXPECT_TRUE(dev.log().empty());
  EXPECT_EQ(stats.refused_for(Refusal::BadBuffer), 1u);
}

TEST_F(DispatcherTest, InvalidRequestsGetXensDefaultAnswerAndAreCounted) {
  struct Case {
    ioreq_t r;
    Refusal why;
  };
  const Case cases[] = {
      {req(5, kBar, 4, true), Refusal::BadType},
      {req(IOREQ_TYPE_COPY, kBar, 3, true), Refusal::BadSize},
      {req(IOREQ_TYPE_PIO, 0xc000, 8, true), Refusal::BadSize},
      {req(IOREQ_TYPE_COPY, kBar, 4, true, 0, 0), Refusal::BadCount},
      {req(IOREQ_TYPE_COPY, kBar, 4, true, 0x1000, 2000, true), Refusal::BadCount},
      {req(IOREQ_TYPE_COPY, kBar, 4, true, 0, 4), Refusal::BadCount},  // a repeated read
      {req(IOREQ_TYPE_COPY, kBar + 0xffc, 4, true, 0x1000, 2, true), Refusal::CrossesPage},
      {req(IOREQ_TYPE_COPY, kBar - 4, 4, true), Refusal::Unclaimed},
      {req(IOREQ_TYPE_PIO, 0x3f8, 1, true), Refusal::Unclaimed},
      {req(IOREQ_TYPE_PCI_CONFIG, uint64_t{7} << 35, 4, true), Refusal::Unclaimed},
      {req(IOREQ_TYPE_COPY, ~uint64_t{0} - 1, 4, true), Refusal::BadAddress},
  };
  uint64_t total = 0;
  std::map<Refusal, uint64_t> expected;
  for (const auto& c : cases) {
    // A refused rep read leaves the guest buffer alone and hands back the pointer.
    const uint64_t answer = c.r.data_is_ptr ? c.r.data : ~uint64_t{0};
    EXPECT_EQ(serve(c.r), answer) << to_string(c.why);
    EXPECT_EQ(stats.refused_for(c.why), ++expected[c.why]) << to_string(c.why);
    ++total;
  }
  EXPECT_EQ(stats.refused_total(), total);
  // Writes are dropped: nothing reached the device.
  serve(req(IOREQ_TYPE_COPY, kBar - 4, 4, false, 1));
  EXPECT_TRUE(dev.log().empty());
  EXPECT_EQ(stats.requests.load(), total + 1);
  EXPECT_EQ(mem.writes, 0);
}

TEST_F(DispatcherTest, InvalidateFlushesTheMapCacheOnly) {
  int flushed = 0;
  dispatcher.set_invalidate_hook([&] { ++flushed; });
  serve(req(IOREQ_TYPE_INVALIDATE, 0, 4, false, ~uint64_t{0}));
  EXPECT_EQ(flushed, 1);
  EXPECT_TRUE(dev.log().empty()) << "an INVALIDATE is Xen's, not a device access";
  EXPECT_EQ(stats.invalidates.load(), 1u);
}

TEST_F(DispatcherTest, BufferedWritesTimeOffsetAndRefusals) {
  ioreq_t w = req(IOREQ_TYPE_COPY, kBar + 4, 8, false, 0x1122334455667788ull);
  dispatcher.serve_buffered(w, dev);
  ASSERT_EQ(dev.log().size(), 1u);
  EXPECT_EQ(dev.log()[0].value, 0x1122334455667788ull);
  dispatcher.serve_buffered(req(IOREQ_TYPE_TIMEOFFSET, 0, 8, false, static_cast<uint64_t>(-3600)), dev);
  EXPECT_EQ(stats.last_time_offset.load(), -3600);
  dispatcher.serve_buffered(req(IOREQ_TYPE_COPY, kBar + 4, 4, true), dev);  // a "read" in the ring
  dispatcher.serve_buffered(req(IOREQ_TYPE_INVALIDATE, 0, 4, false), dev);
  dispatcher.serve_buffered(req(IOREQ_TYPE_PIO, 0xc004, 2, false, 1), dev);  // Xen 4.17 buffers no PIO
  EXPECT_EQ(stats.refused_for(Refusal::BadBuffered), 3u);
  EXPECT_EQ(serve(req(IOREQ_TYPE_TIMEOFFSET, 0, 8, false, 7)), 7u);  // never sent synchronously
  EXPECT_EQ(stats.refused_for(Refusal::BadType), 1u);
  EXPECT_EQ(stats.time_offsets.load(), 1u);
  dispatcher.serve_buffered(req(IOREQ_TYPE_COPY, 0xa0000, 1, false, 1), dev);  // unclaimed VGA write
  EXPECT_EQ(stats.refused_for(Refusal::Unclaimed), 1u);
  EXPECT_EQ(dev.log().size(), 1u);
}

}  // namespace
}  // namespace xvgpu::ioreq
