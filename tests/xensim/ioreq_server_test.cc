// Ioreq server lifecycle: creation limits, resource pages, legacy gfns, claims.
#include <sys/mman.h>

#include "fixture.h"

namespace {

TEST_F(XensimTest, ServerWithBufferedRingMapsBothFramesAndPublishesPorts) {
  RawDm dm(d(), HVM_IOREQSRV_BUFIOREQ_ATOMIC);
  dm.start();
  ASSERT_EQ(dm.ports.size(), 2u);
  EXPECT_NE(dm.page[0].vp_eport, dm.page[1].vp_eport);
  EXPECT_NE(dm.buf_port, 0u);
  size_t size = 0;
  ASSERT_EQ(xenforeignmemory_resource_size(dm.fmem, d(), XENMEM_resource_ioreq_server, dm.id, &size), 0);
  EXPECT_EQ(size, 2u * 4096);  // one buffered frame + one frame for up to 128 vCPUs
}

TEST_F(XensimTest, BufferedFrameOfServerWithoutRingIsENOENT) {
  RawDm dm(d());
  dm.start();
  void* addr = nullptr;
  EXPECT_EQ(xenforeignmemory_map_resource(dm.fmem, d(), XENMEM_resource_ioreq_server, dm.id, 0, 1, &addr,
                                          PROT_READ, 0),
            nullptr);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(xenforeignmemory_map_resource(dm.fmem, d(), XENMEM_resource_ioreq_server, dm.id, 2, 1, &addr,
                                          PROT_READ, 0),
            nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(
      xenforeignmemory_map_resource(dm.fmem, d(), XENMEM_resource_ioreq_server, 7, 1, 1, &addr, PROT_READ, 0),
      nullptr);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(XensimTest, AtMostEightServersAndHandlingValidated) {
  auto* dmod = xendevicemodel_open(nullptr, 0);
  ioservid_t id = 0;
  EXPECT_EQ(xendevicemodel_create_ioreq_server(dmod, d(), 3, &id), -1);
  EXPECT_EQ(errno, EINVAL);
  for (int i = 0; i < 8; ++i) ASSERT_EQ(xendevicemodel_create_ioreq_server(dmod, d(), 0, &id), 0);
  EXPECT_EQ(xendevicemodel_create_ioreq_server(dmod, d(), 0, &id), -1);
  EXPECT_EQ(errno, ENOSPC);
  ASSERT_EQ(xendevicemodel_destroy_ioreq_server(dmod, d(), 3), 0);
  ASSERT_EQ(xendevicemodel_create_ioreq_server(dmod, d(), 0, &id), 0);
  EXPECT_EQ(id, 3);
  EXPECT_EQ(xendevicemodel_destroy_ioreq_server(dmod, d(), 42), -1);
  EXPECT_EQ(errno, ENOENT);
  xendevicemodel_close(dmod);
}

TEST_F(XensimTest, LegacyGfnsMapTheSamePagesOnlyWhileDisabled) {
  auto* dmod = xendevicemodel_open(nullptr, 0);
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  ioservid_t id = 0;
  ASSERT_EQ(xendevicemodel_create_ioreq_server(dmod, d(), HVM_IOREQSRV_BUFIOREQ_LEGACY, &id), 0);
  xen_pfn_t gfn = 0, bufgfn = 0;
  evtchn_port_t bp = 0;
  ASSERT_EQ(xendevicemodel_get_ioreq_server_info(dmod, d(), id, &gfn, &bufgfn, &bp), 0);
  EXPECT_NE(gfn, bufgfn);
  EXPECT_NE(bp, 0u);
  int err = 1;
  auto* page = static_cast<ioreq_t*>(xenforeignmemory_map(fmem, d(), PROT_READ | PROT_WRITE, 1, &gfn, &err));
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(err, 0);
  EXPECT_NE(page[0].vp_eport, 0u);
  // Resource mapping after gfns were handed out is refused.
  void* addr = nullptr;
  EXPECT_EQ(
      xenforeignmemory_map_resource(fmem, d(), XENMEM_resource_ioreq_server, id, 1, 1, &addr, PROT_READ, 0),
      nullptr);
  EXPECT_EQ(errno, EPERM);
  // Enabled: the gfns leave the guest's p2m (the DM's mapping stays valid).
  ASSERT_EQ(xendevicemodel_set_ioreq_server_state(dmod, d(), id, 1), 0);
  EXPECT_EQ(xenforeignmemory_map(fmem, d(), PROT_READ, 1, &gfn, &err) == nullptr || err != 0, true);
  EXPECT_NE(page[0].vp_eport, 0u);
  xenforeignmemory_unmap(fmem, page, 1);
  xenforeignmemory_close(fmem);
  xendevicemodel_close(dmod);
}

TEST_F(XensimTest, ResourceMappedServerRefusesLegacyGfns) {
  RawDm dm(d());
  dm.start();
  xen_pfn_t gfn = 0;
  EXPECT_EQ(xendevicemodel_get_ioreq_server_info(dm.dmod, d(), dm.id, &gfn, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EPERM);
  evtchn_port_t bp = 7;
  EXPECT_EQ(xendevicemodel_get_ioreq_server_info(dm.dmod, d(), dm.id, nullptr, nullptr, &bp), 0);
}

TEST_F(XensimTest, ClaimsAreInclusiveValidatedAndLimited) {
  RawDm dm(d());
  dm.start();
  auto* h = dm.dmod;
  EXPECT_EQ(xendevicemodel_map_io_range_to_ioreq_server(h, d(), dm.id, 1, 0x2000, 0x1000), -1);
  EXPECT_EQ(errno, EINVAL);  // end < start
  ASSERT_EQ(xendevicemodel_map_io_range_to_ioreq_server(h, d(), dm.id, 1, kBar, kBar + 0xfff), 0);
  EXPECT_EQ(xendevicemodel_map_io_range_to_ioreq_server(h, d(), dm.id, 1, kBar + 0xfff, kBar + 0x1fff), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(xendevicemodel_unmap_io_range_from_ioreq_server(h, d(), dm.id, 1, kBar + 0xf00, kBar + 0x10ff),
            -1);
  EXPECT_EQ(errno, ENOENT);  // not contained in a claimed range
  ASSERT_EQ(xendevicemodel_unmap_io_range_from_ioreq_server(h, d(), dm.id, 1, kBar + 0x100, kBar + 0x1ff), 0);
  // The hole is unclaimed now; the rest is still claimed.
  EXPECT_EQ(guest.access(dom, xvgpu::VcpuId{0}, mmio(IOREQ_READ, kBar + 0x100)).status,
            xensim::AccessStatus::unclaimed);
  // Port and PCI claims are separate spaces.
  ASSERT_EQ(xendevicemodel_map_io_range_to_ioreq_server(h, d(), dm.id, 0, kBar & 0xffff, (kBar & 0xffff) + 3),
            0);
  ASSERT_EQ(xendevicemodel_map_pcidev_to_ioreq_server(h, d(), dm.id, 0, 0, 3, 0), 0);
  EXPECT_EQ(xendevicemodel_map_pcidev_to_ioreq_server(h, d(), dm.id, 0, 0, 3, 0), -1);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_EQ(xendevicemodel_unmap_pcidev_from_ioreq_server(h, d(), dm.id, 0, 0, 3, 0), 0);
  EXPECT_EQ(xendevicemodel_unmap_pcidev_from_ioreq_server(h, d(), dm.id, 0, 0, 3, 0), -1);
  EXPECT_EQ(errno, ENOENT);
  // At most 256 distinct ranges per space (MAX_NR_IO_RANGES).
  int rc = 0;
  int n = 0;
  for (; n < 300 && rc == 0; ++n)
    rc = xendevicemodel_map_io_range_to_ioreq_server(h, d(), dm.id, 0, 0x4000 + 2 * n, 0x4000 + 2 * n);
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(n, 256);  // 1 existing port range + 255 new ones, the 256th new one fails
}

TEST_F(XensimTest, DestroyedDomainAnswersESRCH) {
  RawDm dm(d());
  dm.start();
  guest.destroy_domain(dom);
  EXPECT_EQ(xendevicemodel_set_ioreq_server_state(dm.dmod, d(), dm.id, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(xendevicemodel_destroy_ioreq_server(dm.dmod, d(), dm.id), -1);
  EXPECT_EQ(errno, ESRCH);
  unsigned n = 0;
  EXPECT_EQ(xendevicemodel_nr_vcpus(dm.dmod, d(), &n), -1);
  EXPECT_EQ(errno, ESRCH);
  // The DM still maps the ioreq page: a zombie until it lets go.
  EXPECT_EQ(guest.status(dom).info.state, xensim::DomainState::dying);
  ASSERT_EQ(xenforeignmemory_unmap_resource(dm.fmem, dm.fres), 0);
  dm.fres = nullptr;
  EXPECT_THROW(guest.status(dom), xvgpu::SystemError);
}

}  // namespace
