// INVALIDATE broadcast on memory removal, the buffered ring (eligible writes, two slots for
// 8 bytes, full-ring fallback, pointer canonicalisation) and TIMEOFFSET.
#include <thread>

#include "fixture.h"

namespace {

using xensim::AccessStatus;
using xvgpu::VcpuId;

TEST_F(XensimTest, RemovingMemoryBroadcastsInvalidateToEveryEnabledServer) {
  RawDm a(d()), b(d()), off(d());
  a.start();
  b.start();
  off.start(false);
  auto f = std::async(std::launch::async,
                      [&] { return guest.remove_memory(dom, VcpuId{1}, xvgpu::Gfn{0x100}, 4); });
  auto ra = a.wait_request(1);
  auto rb = b.wait_request(1);  // both posted before either answered
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->type, IOREQ_TYPE_INVALIDATE);
  EXPECT_EQ(rb->type, IOREQ_TYPE_INVALIDATE);
  EXPECT_EQ(ra->dir, IOREQ_WRITE);
  // As ioreq_signal_mapcache_invalidate fills it: size 4, count left 0, data ~0 (flush all).
  EXPECT_EQ(ra->size, 4u);
  EXPECT_EQ(ra->count, 0u);
  EXPECT_EQ(ra->data, ~uint64_t{0});
  EXPECT_EQ(f.wait_for(std::chrono::milliseconds(30)), std::future_status::timeout);  // synchronous
  a.respond(1, 0);
  EXPECT_EQ(f.wait_for(std::chrono::milliseconds(30)), std::future_status::timeout);
  b.respond(1, 0);
  EXPECT_EQ(f.get(), AccessStatus::ok);
  EXPECT_EQ(RawDm::state(&off.page[1]), STATE_IOREQ_NONE);
  // The pages are gone: foreign mapping reports the error per page.
  xen_pfn_t gfns[2] = {0xff, 0x100};
  int errs[2] = {1, 1};
  void* m = xenforeignmemory_map(a.fmem, d(), PROT_READ, 2, gfns, errs);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(errs[0], 0);
  EXPECT_EQ(errs[1], -EINVAL);
  xenforeignmemory_unmap(a.fmem, m, 2);
}

TEST_F(XensimTest, ToolstackRemovalSendsInvalidateBeforeTheNextAccess) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto* xch = xc_interface_open(nullptr, nullptr, 0);
  xen_pfn_t gfn = 0x200;
  ASSERT_EQ(xc_domain_decrease_reservation_exact(xch, d(), 1, 0, &gfn), 0);
  EXPECT_EQ(xc_domain_decrease_reservation_exact(xch, d(), 1, 0, &gfn), -1);  // already gone
  EXPECT_EQ(errno, EINVAL);
  xc_interface_close(xch);
  auto f = async(mmio(IOREQ_READ, kBar));
  auto r = dm.serve_one(0, [](const ioreq_t&) { return 0; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, IOREQ_TYPE_INVALIDATE);
  r = dm.serve_one(0, [](const ioreq_t&) { return 3; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, IOREQ_TYPE_COPY);
  EXPECT_EQ(f.get().data, 3u);
}

TEST_F(XensimTest, EligibleWritesGoThroughTheBufferedRing) {
  RawDm dm(d(), HVM_IOREQSRV_BUFIOREQ_ATOMIC);
  dm.start();
  dm.claim_mmio(0xa0000, 0xbffff);
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto r = guest.buffered_write(dom, VcpuId{0}, xensim::Space::mmio, 0xa0010, 8, 0x1122334455667788ull);
  EXPECT_EQ(r.status, AccessStatus::buffered);
  auto ev = dm.next_event();
  ASSERT_TRUE(ev);
  EXPECT_EQ(*ev, dm.buf_port);
  ASSERT_EQ(dm.bufpage->write_pointer, 2u);  // 8 bytes take two slots
  EXPECT_EQ(dm.bufpage->buf_ioreq[0].size, 3);
  EXPECT_EQ(dm.bufpage->buf_ioreq[0].addr, 0xa0010u);
  EXPECT_EQ(dm.bufpage->buf_ioreq[0].data, 0x55667788u);
  EXPECT_EQ(dm.bufpage->buf_ioreq[1].data, 0x11223344u);
  EXPECT_EQ(dm.bufpage->buf_ioreq[0].type, IOREQ_TYPE_COPY);
  // Above 1 MiB the 20-bit addr cannot hold it: synchronous.
  auto f = std::async(std::launch::async,
                      [&] { return guest.buffered_write(dom, VcpuId{0}, xensim::Space::mmio, kBar, 4, 1); });
  ASSERT_TRUE(dm.serve_one(0, [](const ioreq_t&) { return 0; }));
  EXPECT_EQ(f.get().status, AccessStatus::ok);
}

TEST_F(XensimTest, ServerWithoutRingGetsBufferedWritesSynchronously) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(0xa0000, 0xbffff);
  auto f = std::async(std::launch::async, [&] {
    return guest.buffered_write(dom, VcpuId{0}, xensim::Space::mmio, 0xa0080, 1, 0x42);
  });
  auto r = dm.serve_one(0, [](const ioreq_t&) { return 0; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data, 0x42u);
  EXPECT_EQ(f.get().status, AccessStatus::ok);
}

// Xen 4.17 posts only stdvga's MMIO writes to the ring: port writes are always synchronous.
TEST_F(XensimTest, PortWritesNeverGoThroughTheBufferedRing) {
  RawDm dm(d(), HVM_IOREQSRV_BUFIOREQ_ATOMIC);
  dm.start();
  dm.claim_port(0x80, 0x80);
  auto f = std::async(std::launch::async, [&] {
    return guest.buffered_write(dom, VcpuId{0}, xensim::Space::pio, 0x80, 1, 0x42);
  });
  auto r = dm.serve_one(0, [](const ioreq_t&) { return 0; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data, 0x42u);
  EXPECT_EQ(f.get().status, AccessStatus::ok);
}

TEST_F(XensimTest, FullRingFallsBackToSynchronous) {
  RawDm dm(d(), HVM_IOREQSRV_BUFIOREQ_LEGACY);
  dm.start();
  dm.claim_mmio(0xa0000, 0xbffff);
  for (int i = 0; i < IOREQ_BUFFER_SLOT_NUM; ++i)
    ASSERT_EQ(guest.buffered_write(dom, VcpuId{0}, xensim::Space::mmio, 0xa0080, 1, i).status,
              AccessStatus::buffered);
  auto f = std::async(std::launch::async, [&] {
    return guest.buffered_write(dom, VcpuId{0}, xensim::Space::mmio, 0xa0080, 1, 0x99);
  });
  auto r = dm.serve_one(0, [](const ioreq_t&) { return 0; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data, 0x99u);
  EXPECT_EQ(f.get().status, AccessStatus::ok);
  EXPECT_EQ(dm.bufpage->write_pointer, unsigned{IOREQ_BUFFER_SLOT_NUM});
}

TEST_F(XensimTest, AtomicRingPointersAreCanonicalised) {
  RawDm dm(d(), HVM_IOREQSRV_BUFIOREQ_ATOMIC);
  dm.start();
  dm.claim_mmio(0xa0000, 0xbffff);
  for (int i = 0; i < 600; ++i) {
    ASSERT_EQ(guest.buffered_write(dom, VcpuId{0}, xensim::Space::mmio, 0xa0080, 1, i).status,
              AccessStatus::buffered);
    __atomic_fetch_add(&dm.bufpage->read_pointer, 1, __ATOMIC_RELEASE);  // consume
  }
  EXPECT_LT(dm.bufpage->read_pointer, unsigned{IOREQ_BUFFER_SLOT_NUM});
  EXPECT_EQ(dm.bufpage->read_pointer, dm.bufpage->write_pointer);
}

TEST_F(XensimTest, TimeOffsetGoesOnlyThroughBufferedRings) {
  RawDm with(d(), HVM_IOREQSRV_BUFIOREQ_ATOMIC), without(d());
  with.start();
  without.start();
  EXPECT_EQ(guest.time_offset(dom, -1234567890123ll), 1u);
  ASSERT_EQ(with.bufpage->write_pointer, 2u);
  EXPECT_EQ(with.bufpage->buf_ioreq[0].type, IOREQ_TYPE_TIMEOFFSET);
  const uint64_t v = with.bufpage->buf_ioreq[0].data | uint64_t{with.bufpage->buf_ioreq[1].data} << 32;
  EXPECT_EQ(static_cast<int64_t>(v), -1234567890123ll);
  EXPECT_EQ(RawDm::state(&without.page[0]), STATE_IOREQ_NONE);
  // send_timeoffset_req sends nothing for a zero offset.
  EXPECT_EQ(guest.time_offset(dom, 0), 0u);
  EXPECT_EQ(with.bufpage->write_pointer, 2u);
}

}  // namespace
