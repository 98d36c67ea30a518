// Which accesses reach which server (Xen's ioreq_server_select), the CF8/CFC config cycle,
// and Xen's answer for accesses nobody claimed.
#include "fixture.h"

namespace {

using xensim::AccessStatus;
using xvgpu::VcpuId;

TEST_F(XensimTest, WholeAccessMustLieInsideOneClaimedRange) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xff);
  // Straddles the end of the range: Xen's null handler answers it.
  auto r = guest.access(dom, VcpuId{0}, mmio(IOREQ_READ, kBar + 0xfe, 4));
  EXPECT_EQ(r.status, AccessStatus::unclaimed);
  EXPECT_EQ(r.data, 0xffffffffu);
  // Adjacent claims merge into one range, so the same access is then claimed.
  dm.claim_mmio(kBar + 0x100, kBar + 0x1ff);
  auto f = async(mmio(IOREQ_READ, kBar + 0xfe, 4));
  auto req = dm.serve_one(0, [](const ioreq_t&) { return 0xabcd; });
  ASSERT_TRUE(req);
  EXPECT_EQ(req->type, IOREQ_TYPE_COPY);
  EXPECT_EQ(req->addr, kBar + 0xfe);
  EXPECT_EQ(req->size, 4u);
  EXPECT_EQ(req->dir, IOREQ_READ);
  EXPECT_EQ(f.get().data, 0xabcdu);
}

TEST_F(XensimTest, DisabledServerIsNotSelectedAndHigherIdWins) {
  RawDm a(d()), b(d());
  a.start();
  b.start(false);
  a.claim_port(0x3f8, 0x3ff);
  b.claim_port(0x3f8, 0x3ff);
  auto f = async(pio(IOREQ_READ, 0x3f8, 1));
  ASSERT_TRUE(a.serve_one(0, [](const ioreq_t&) { return 0x41; }));
  EXPECT_EQ(f.get().data, 0x41u);
  ASSERT_EQ(xendevicemodel_set_ioreq_server_state(b.dmod, d(), b.id, 1), 0);
  auto g = async(pio(IOREQ_WRITE, 0x3f9, 1, 7));
  auto req = b.serve_one(0, [](const ioreq_t& r) { return r.data; });
  ASSERT_TRUE(req);
  EXPECT_EQ(req->type, IOREQ_TYPE_PIO);
  EXPECT_EQ(req->data, 7u);
  EXPECT_EQ(g.get().status, AccessStatus::ok);
  EXPECT_EQ(RawDm::state(&a.page[0]), STATE_IOREQ_NONE);  // a never saw it
}

TEST_F(XensimTest, Cf8LatchAndCfcBecomePciConfigWithSbdfAndByteOffset) {
  RawDm dm(d());
  dm.start();
  dm.claim_pci(0, 3, 0);
  // A 4-byte CF8 write is latched (and, unclaimed, otherwise dropped).
  guest.pio_write(dom, VcpuId{1}, 0xcf8, 4, 0x80000000u | (3u << 11) | 0x10);
  auto f = async(pio(IOREQ_READ, 0xcfe, 2), 1);
  auto req = dm.serve_one(1, [](const ioreq_t&) { return 0x1234; });
  ASSERT_TRUE(req);
  EXPECT_EQ(req->type, IOREQ_TYPE_PCI_CONFIG);
  EXPECT_EQ(req->addr, (uint64_t{XEN_DMOP_PCI_SBDF(0, 0, 3, 0)} << 32) | 0x12);  // register 0x10 + byte 2
  EXPECT_EQ(req->size, 2u);
  EXPECT_EQ(f.get().data, 0x1234u);
  // Through the guest API helper (it does the same two accesses).
  auto g = std::async(std::launch::async, [&] {
    return guest.pci_cfg_read(dom, VcpuId{0}, xvgpu::Sbdf{0, 0, 3, 0}, 0x3d, 1);
  });
  req = dm.serve_one(0, [](const ioreq_t&) { return 0x01; });
  ASSERT_TRUE(req);
  EXPECT_EQ(req->addr & 0xffffffff, 0x3du);
  EXPECT_EQ(g.get(), 1u);
}

TEST_F(XensimTest, CfcWithoutEnabledCf8IsPlainPioAndOtherFunctionsUnclaimed) {
  RawDm dm(d());
  dm.start();
  dm.claim_pci(0, 3, 0);
  guest.pio_write(dom, VcpuId{0}, 0xcf8, 4, 0x00001810);  // enable bit clear
  EXPECT_EQ(guest.access(dom, VcpuId{0}, pio(IOREQ_READ, 0xcfc, 4)).status, AccessStatus::unclaimed);
  guest.pio_write(dom, VcpuId{0}, 0xcf8, 2, 0x8000);  // a 2-byte write does not latch
  EXPECT_EQ(guest.access(dom, VcpuId{0}, pio(IOREQ_READ, 0xcfc, 4)).status, AccessStatus::unclaimed);
  // Function 1 of the same device is not claimed: all ones.
  EXPECT_EQ(guest.pci_cfg_read(dom, VcpuId{0}, xvgpu::Sbdf{0, 0, 3, 1}, 0, 4), 0xffffffffu);
  EXPECT_EQ(guest.pci_cfg_read(dom, VcpuId{0}, xvgpu::Sbdf{0, 0, 3, 1}, 0, 2), 0xffffu);
}

TEST_F(XensimTest, UnclaimedReadsAllOnesWritesDroppedRepReadsFillBuffer) {
  EXPECT_EQ(guest.mmio_read(dom, VcpuId{0}, kBar, 1), 0xffu);
  EXPECT_EQ(guest.mmio_read(dom, VcpuId{0}, kBar, 8), ~0ull);
  EXPECT_EQ(guest.pio_read(dom, VcpuId{0}, 0x60, 2), 0xffffu);
  guest.mmio_write(dom, VcpuId{0}, kBar, 4, 1);  // dropped, no crash
  std::vector<std::byte> zero(64, std::byte{0});
  guest.write_ram(dom, 0x5000, zero);
  xensim::Access a = pio(IOREQ_READ, 0x60, 2);
  a.count = 8;
  a.data_is_ptr = 1;
  a.data = 0x5000;
  EXPECT_EQ(guest.access(dom, VcpuId{0}, a).status, AccessStatus::unclaimed);
  std::vector<std::byte> out(20);
  guest.read_ram(dom, 0x5000, out);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], std::byte{0xff}) << i;
  EXPECT_EQ(out[16], std::byte{0});
  EXPECT_GE(guest.status(dom).unclaimed, 5u);
}

TEST_F(XensimTest, MmioToGuestRamIsAMemoryAccessNotAnIoreq) {
  guest.mmio_write(dom, VcpuId{0}, 0x2000, 4, 0xdeadbeef);
  std::vector<std::byte> out(4);
  guest.read_ram(dom, 0x2000, out);
  uint32_t v = 0;
  std::memcpy(&v, out.data(), 4);
  EXPECT_EQ(v, 0xdeadbeefu);
  EXPECT_EQ(guest.access(dom, VcpuId{0}, mmio(IOREQ_READ, 0x2000)).status, AccessStatus::ram);
}

TEST_F(XensimTest, MalformedAccessesAreRejected) {
  EXPECT_EQ(guest.access(dom, VcpuId{5}, mmio(IOREQ_READ, kBar)).status, AccessStatus::invalid);
  EXPECT_EQ(guest.access(dom, VcpuId{0}, mmio(IOREQ_READ, kBar, 3)).status, AccessStatus::invalid);
  EXPECT_EQ(guest.access(dom, VcpuId{0}, pio(IOREQ_READ, 0x10000, 1)).status, AccessStatus::invalid);
  EXPECT_EQ(guest.access(dom, VcpuId{0}, pio(IOREQ_READ, 0x60, 8)).status, AccessStatus::invalid);
  auto huge = mmio(IOREQ_WRITE, kBar, 1);
  huge.count = (1u << 20) + 1;
  EXPECT_EQ(guest.access(dom, VcpuId{0}, huge).status, AccessStatus::invalid);
}

}  // namespace
