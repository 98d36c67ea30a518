// Destroying a domain: it is dying (a zombie) while dom0 still maps its memory, and is
// destroyed once the last foreign or resource mapping is released (Xen's domain_kill).
#include <sys/mman.h>

#include "fixture.h"

namespace {

using xensim::DomainState;

DomainState state_of(xensim::Guest& g, xvgpu::Domid d) {
  return g.status(d).info.state;
}

TEST_F(XensimTest, ForeignMappingKeepsADestroyedDomainDyingUntilUnmapped) {
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  auto* xch = xc_interface_open(nullptr, nullptr, 0);
  xen_pfn_t gfns[2] = {0x10, 0x11};
  void* m = xenforeignmemory_map(fmem, d(), PROT_READ | PROT_WRITE, 2, gfns, nullptr);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(guest.status(dom).info.mappings, 1u);
  ASSERT_EQ(xc_domain_destroy(xch, d()), 0);

  xc_dominfo_t info{};
  ASSERT_EQ(xc_domain_getinfo(xch, d(), 1, &info), 1);
  EXPECT_EQ(info.domid, d());
  EXPECT_EQ(info.dying, 1u);
  EXPECT_EQ(info.running, 0u);
  xc_domaininfo_t li{};
  ASSERT_EQ(xc_domain_getinfolist(xch, d(), 1, &li), 1);
  EXPECT_NE(li.flags & XEN_DOMINF_dying, 0u);
  EXPECT_EQ(state_of(guest, dom), DomainState::dying);
  // Destroying the zombie again succeeds; nothing new can be mapped from it.
  EXPECT_EQ(xc_domain_destroy(xch, d()), 0);
  EXPECT_EQ(xenforeignmemory_map(fmem, d(), PROT_READ, 1, gfns, nullptr), nullptr);
  EXPECT_EQ(errno, ESRCH);
  static_cast<volatile uint8_t*>(m)[0] = 1;  // the mapping itself still works

  ASSERT_EQ(xenforeignmemory_unmap(fmem, m, 2), 0);
  EXPECT_THROW(guest.status(dom), xvgpu::SystemError);
  xc_dominfo_t after{};
  // getinfo returns the next domain, if any: this one is no longer listed.
  EXPECT_TRUE(xc_domain_getinfo(xch, d(), 1, &after) == 0 || after.domid != d());
  EXPECT_EQ(xc_domain_destroy(xch, d()), -1);
  EXPECT_EQ(errno, ESRCH);
  xc_interface_close(xch);
  xenforeignmemory_close(fmem);
}

TEST_F(XensimTest, DestroyWithoutMappingsGoesStraightToDestroyed) {
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  xen_pfn_t gfn = 0x10;
  void* m = xenforeignmemory_map(fmem, d(), PROT_READ, 1, &gfn, nullptr);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(xenforeignmemory_unmap(fmem, m, 1), 0);  // released before the destroy
  EXPECT_EQ(guest.status(dom).info.mappings, 0u);
  guest.destroy_domain(dom);
  EXPECT_THROW(guest.status(dom), xvgpu::SystemError);
  for (const auto& i : guest.list_domains()) {
    EXPECT_NE(i.domid, d());
  }
  xenforeignmemory_close(fmem);
}

TEST_F(XensimTest, DyingDomainIsDestroyedWhenTheLastOfSeveralMappingsGoes) {
  RawDm dm(d());
  dm.start();
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  xen_pfn_t gfn = 0x20;
  void* m = xenforeignmemory_map(fmem, d(), PROT_READ, 1, &gfn, nullptr);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(guest.status(dom).info.mappings, 2u);  // the ioreq page resource + RAM
  guest.destroy_domain(dom);
  const auto st = guest.status(dom);
  EXPECT_EQ(st.info.state, DomainState::dying);
  EXPECT_EQ(st.info.mappings, 2u);
  // The ioreq server went with domain_kill, so did its event channels.
  EXPECT_EQ(xendevicemodel_set_ioreq_server_state(dm.dmod, d(), dm.id, 1), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(xenevtchn_notify(dm.xce, dm.ports[0]), 0);  // the dom0 end stays bound, goes nowhere
  ASSERT_EQ(xenforeignmemory_unmap_resource(dm.fmem, dm.fres), 0);
  dm.fres = nullptr;
  EXPECT_EQ(state_of(guest, dom), DomainState::dying);
  ASSERT_EQ(xenforeignmemory_unmap(fmem, m, 1), 0);
  EXPECT_THROW(guest.status(dom), xvgpu::SystemError);
  xenforeignmemory_close(fmem);
}

TEST_F(XensimTest, ClosingTheHandleReleasesItsMappings) {
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  xen_pfn_t gfn = 0x10;
  void* m = xenforeignmemory_map(fmem, d(), PROT_READ, 1, &gfn, nullptr);
  ASSERT_NE(m, nullptr);
  guest.destroy_domain(dom);
  EXPECT_EQ(state_of(guest, dom), DomainState::dying);
  xenforeignmemory_close(fmem);  // as a DM process exiting: privcmd's references go
  EXPECT_THROW(guest.status(dom), xvgpu::SystemError);
  ::munmap(m, 4096);
}

TEST_F(XensimTest, VcpuBlockedInAnIoreqIsReleasedWhenTheDomainIsKilled) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto f = async(mmio(IOREQ_READ, kBar));
  ASSERT_TRUE(dm.wait_request(0));
  guest.destroy_domain(dom);  // the DM never answers
  EXPECT_EQ(f.get().status, xensim::AccessStatus::destroyed);
  EXPECT_EQ(state_of(guest, dom), DomainState::dying);  // the DM still maps the ioreq page
  // A dying domain runs nothing more.
  EXPECT_THROW(guest.mmio_read(dom, xvgpu::VcpuId{0}, kBar, 4), xvgpu::SystemError);
}

TEST_F(XensimTest, FailedForeignMapTakesNoReference) {
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  xen_pfn_t gfn = 0x7ffff;  // not populated: without err[] the call fails
  EXPECT_EQ(xenforeignmemory_map(fmem, d(), PROT_READ, 1, &gfn, nullptr), nullptr);
  EXPECT_EQ(guest.status(dom).info.mappings, 0u);
  guest.destroy_domain(dom);
  EXPECT_THROW(guest.status(dom), xvgpu::SystemError);
  xenforeignmemory_close(fmem);
}

}  // namespace
