// Guest memory: foreign mapping with per-page errors, sharing with the guest, physmap
// population against maxmem, relocation, dirty VRAM tracking, modified_memory.
#include "fixture.h"

namespace {

TEST_F(XensimTest, ForeignMappingSharesBytesWithTheGuestAndReportsPerPageErrors) {
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  const uint64_t last_gfn = 16 * 256 - 1;
  xen_pfn_t gfns[3] = {0x10, last_gfn + 1, 0x11};
  int errs[3] = {1, 1, 1};
  auto* m = static_cast<uint8_t*>(xenforeignmemory_map(fmem, d(), PROT_READ | PROT_WRITE, 3, gfns, errs));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(errs[0], 0);
  EXPECT_EQ(errs[1], -EINVAL);  // unpopulated: that page only
  EXPECT_EQ(errs[2], 0);
  m[5] = 0x77;  // device DMA
  std::vector<std::byte> b(1);
  guest.read_ram(dom, 0x10005, b);
  EXPECT_EQ(b[0], std::byte{0x77});
  std::vector<std::byte> w(1, std::byte{0x33});
  guest.write_ram(dom, 0x11000, w);
  EXPECT_EQ(m[2 * 4096], 0x33);
  xenforeignmemory_unmap(fmem, m, 3);
  // Without err[], one bad page fails the whole call.
  EXPECT_EQ(xenforeignmemory_map(fmem, d(), PROT_READ, 3, gfns, nullptr), nullptr);
  EXPECT_EQ(errno, EINVAL);
  // The guest side sees the same bytes through its own mapping.
  auto gm = guest.map_ram(dom, xvgpu::Gfn{0x10}, 1);
  EXPECT_EQ(static_cast<uint8_t>(gm->bytes()[5]), 0x77);
  xenforeignmemory_close(fmem);
}

TEST_F(XensimTest, PopulatePhysmapIsLimitedByMaxmem) {
  auto* xch = xc_interface_open(nullptr, nullptr, 0);
  xen_pfn_t gfn = 0x80000;
  EXPECT_EQ(xc_domain_populate_physmap_exact(xch, d(), 1, 0, 0, &gfn), -1);  // at maxmem already
  EXPECT_EQ(errno, EBUSY);
  ASSERT_EQ(xc_domain_setmaxmem(xch, d(), (16 * 1024) + 8), 0);  // 34 more pages
  for (xen_pfn_t g = 0xa0; g < 0xc0; ++g)
    ASSERT_EQ(xc_domain_populate_physmap_exact(xch, d(), 1, 0, 0, &g), 0);
  ASSERT_EQ(xc_domain_populate_physmap_exact(xch, d(), 1, 0, 0, &gfn), 0);
  xen_pfn_t two[2] = {0x80001, 0x80002};
  EXPECT_EQ(xc_domain_populate_physmap_exact(xch, d(), 2, 0, 0, two), -1);  // only one fits
  EXPECT_EQ(errno, EBUSY);
  std::vector<std::byte> w(4, std::byte{9});
  guest.write_ram(dom, 0x80000000, w);  // now backed
  xc_dominfo_t info{};
  ASSERT_EQ(xc_domain_getinfo(xch, d(), 1, &info), 1);
  EXPECT_EQ(info.nr_pages, 16u * 256 + 2);  // RAM minus the VGA hole, hole refilled, plus two
  EXPECT_EQ(info.max_memkb, 16u * 1024 + 8);
  xc_interface_close(xch);
}

TEST_F(XensimTest, RelocateMemoryMovesThePage) {
  auto* dmod = xendevicemodel_open(nullptr, 0);
  std::vector<std::byte> w(8, std::byte{0xab});
  guest.write_ram(dom, 0x3000, w);
  ASSERT_EQ(xendevicemodel_relocate_memory(dmod, d(), 1, 0x3, 0xf0000), 0);
  std::vector<std::byte> r(8);
  guest.read_ram(dom, 0xf0000000, r);
  EXPECT_EQ(r[0], std::byte{0xab});
  EXPECT_THROW(guest.read_ram(dom, 0x3000, r), xvgpu::SystemError);
  EXPECT_EQ(xendevicemodel_relocate_memory(dmod, d(), 1, 0x3, 0x4), -1);  // source now empty
  EXPECT_EQ(errno, EINVAL);
  xendevicemodel_close(dmod);
}

TEST_F(XensimTest, TrackDirtyVramReportsGuestWrites) {
  auto* dmod = xendevicemodel_open(nullptr, 0);
  unsigned long bits[2] = {0, 0};
  ASSERT_EQ(xendevicemodel_track_dirty_vram(dmod, d(), 0x100, 70, bits), 0);
  EXPECT_EQ(bits[0], ~0ul);  // a new range starts all dirty
  ASSERT_EQ(xendevicemodel_track_dirty_vram(dmod, d(), 0x100, 70, bits), 0);
  EXPECT_EQ(bits[0], 0ul);
  std::vector<std::byte> w(1, std::byte{1});
  guest.write_ram(dom, 0x102000, w);
  guest.write_ram(dom, 0x145000, w);
  guest.mmio_write(dom, xvgpu::VcpuId{0}, 0x103000, 4, 5);  // a store by the vCPU
  ASSERT_EQ(xendevicemodel_track_dirty_vram(dmod, d(), 0x100, 70, bits), 0);
  EXPECT_EQ(bits[0], (1ul << 2) | (1ul << 3));
  EXPECT_EQ(bits[1], 1ul << (0x45 - 64));
  ASSERT_EQ(xendevicemodel_track_dirty_vram(dmod, d(), 0x100, 70, bits), 0);
  EXPECT_EQ(bits[0] | bits[1], 0ul);
  EXPECT_EQ(xendevicemodel_track_dirty_vram(dmod, d(), 0, 1u << 20, bits), -1);
  EXPECT_EQ(errno, EINVAL);
  xendevicemodel_close(dmod);
}

TEST_F(XensimTest, ModifiedMemoryIsRecordedAndBoundedWhileLogDirtyIsOn) {
  auto* dmod = xendevicemodel_open(nullptr, 0);
  const uint64_t last_gfn = 16 * 256 - 1;
  // Log-dirty off (no migration): Xen returns 0 at once, recording and checking nothing.
  EXPECT_EQ(xendevicemodel_modified_memory(dmod, d(), 0x20, 3), 0);
  EXPECT_EQ(xendevicemodel_modified_memory(dmod, d(), last_gfn + 10, 1), 0);
  EXPECT_TRUE(guest.modified_pages(dom).empty());
  guest.set_log_dirty(dom, true);
  ASSERT_EQ(xendevicemodel_modified_memory(dmod, d(), 0x20, 3), 0);
  EXPECT_EQ(guest.modified_pages(dom), (std::vector<uint64_t>{0x20, 0x21, 0x22}));
  EXPECT_EQ(xendevicemodel_modified_memory(dmod, d(), last_gfn - 1, 2), -1);
  EXPECT_EQ(errno, EINVAL);
  // Xen's bound: first + nr must not pass the highest mapped gfn, so that gfn is refused.
  EXPECT_EQ(xendevicemodel_modified_memory(dmod, d(), last_gfn, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(xendevicemodel_modified_memory(dmod, d(), last_gfn - 1, 1), 0);
  EXPECT_EQ(guest.modified_pages(dom).size(), 4u);
  xen_dm_op_modified_memory_extent ext[2] = {{.nr = 1, .pad = 0, .first_pfn = 0x30},
                                             {.nr = 1, .pad = 0, .first_pfn = 0x40}};
  ASSERT_EQ(xendevicemodel_modified_memory_bulk(dmod, d(), ext, 2), 0);
  EXPECT_EQ(guest.modified_pages(dom).size(), 6u);
  ext[0].pad = 1;
  EXPECT_EQ(xendevicemodel_modified_memory_bulk(dmod, d(), ext, 1), -1);
  xendevicemodel_close(dmod);
}

TEST_F(XensimTest, MsiAndIntxAreRecordedForTheGuest) {
  auto* dmod = xendevicemodel_open(nullptr, 0);
  auto waiter =
      std::async(std::launch::async, [&] { return guest.wait_msis(dom, 2, std::chrono::seconds(2)); });
  ASSERT_EQ(xendevicemodel_inject_msi(dmod, d(), 0xfee00000, 0x4041), 0);
  ASSERT_EQ(xendevicemodel_inject_msi(dmod, d(), 0x12300000000ull, 0), 0);  // PIRQ-encoded: passed unchanged
  EXPECT_TRUE(waiter.get());
  const auto m = guest.msis(dom);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].addr, 0xfee00000u);
  EXPECT_EQ(m[0].data, 0x4041u);
  EXPECT_EQ(m[1].addr, 0x12300000000ull);
  EXPECT_FALSE(guest.wait_msis(dom, 3, std::chrono::milliseconds(20)));
  EXPECT_FALSE(guest.wait_intx(dom, xvgpu::Sbdf{0, 0, 3, 0}, 0, 1, std::chrono::milliseconds(10)));
  auto level = std::async(std::launch::async, [&] {
    return guest.wait_intx(dom, xvgpu::Sbdf{0, 0, 3, 0}, 0, 1, std::chrono::seconds(2));
  });
  ASSERT_EQ(xendevicemodel_set_pci_intx_level(dmod, d(), 0, 0, 3, 0, 1), 0);
  EXPECT_TRUE(level.get());
  EXPECT_EQ(guest.intx_level(dom, xvgpu::Sbdf{0, 0, 3, 0}, 0), 1u);
  ASSERT_EQ(xendevicemodel_set_pci_intx_level(dmod, d(), 0, 0, 3, 0, 0), 0);
  EXPECT_EQ(guest.intx_level(dom, xvgpu::Sbdf{0, 0, 3, 0}, 0), 0u);
  EXPECT_EQ(xendevicemodel_set_pci_intx_level(dmod, d(), 0, 0, 3, 4, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(xendevicemodel_set_pci_intx_level(dmod, d(), 0, 1, 3, 0, 1), -1);
  EXPECT_EQ(xendevicemodel_set_isa_irq_level(dmod, d(), 16, 1), -1);
  EXPECT_EQ(xendevicemodel_set_irq_level(dmod, d(), 5, 1), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  xendevicemodel_close(dmod);
}

}  // namespace
