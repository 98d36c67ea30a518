// Rep string operations: data_is_ptr, df, clipping at the guest buffer's page boundary and
// at 4096 repetitions, as Xen's emulator splits them into ioreqs.
#include "fixture.h"

namespace {

using xvgpu::VcpuId;

struct Seen {
  uint64_t addr, data;
  uint32_t count, size;
  uint8_t df, ptr;
};

// Serves every request of vCPU 0 until the access completes, recording each ioreq.
std::vector<Seen> serve_all(RawDm& dm, std::future<xensim::AccessResult>& f) {
  std::vector<Seen> seen;
  while (f.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
    auto r = dm.wait_request(0, 50);
    if (!r) continue;
    seen.push_back({r->addr, r->data, r->count, r->size, r->df, r->data_is_ptr});
    dm.respond(0, 0);
  }
  return seen;
}

TEST_F(XensimTest, RepMovsToMmioIsClippedAtTheBufferPageBoundary) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfffff);
  xensim::Access a = mmio(IOREQ_WRITE, kBar, 4);
  a.count = 1000;
  a.data_is_ptr = 1;
  a.data = 0x10ff0;  // 4 elements fit before the page boundary
  auto f = async(a);
  const auto seen = serve_all(dm, f);
  EXPECT_EQ(f.get().status, xensim::AccessStatus::ok);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].count, 4u);
  EXPECT_EQ(seen[0].data, 0x10ff0u);
  EXPECT_EQ(seen[0].addr, kBar);
  EXPECT_EQ(seen[1].count, 996u);
  EXPECT_EQ(seen[1].data, 0x11000u);
  EXPECT_EQ(seen[1].addr, kBar + 16);
  EXPECT_EQ(seen[1].ptr, 1);
}

TEST_F(XensimTest, RepWithDirectionFlagWalksDownAndSelectsOnFirstByte) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  xensim::Access a = mmio(IOREQ_READ, kBar + 0xffc, 4);
  a.count = 3;
  a.df = 1;
  a.data_is_ptr = 1;
  a.data = 0x20008;  // (0x008 + 4) / 4 = 3 elements fit going down
  auto f = async(a);
  const auto seen = serve_all(dm, f);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].count, 3u);
  EXPECT_EQ(seen[0].df, 1);
  f.get();
  // Going below the claimed range's start: the first byte (addr - (count-1)*size) is outside.
  a.addr = kBar + 4;
  EXPECT_EQ(guest.access(dom, VcpuId{0}, a).status, xensim::AccessStatus::unclaimed);
}

TEST_F(XensimTest, RepStosIsCappedAt4096PerIoreq) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfffff);
  xensim::Access a = mmio(IOREQ_WRITE, kBar, 1, 0x5a);
  a.count = 10000;
  auto f = async(a);
  const auto seen = serve_all(dm, f);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].count, 4096u);
  EXPECT_EQ(seen[1].count, 4096u);
  EXPECT_EQ(seen[2].count, 10000u - 8192);
  EXPECT_EQ(seen[2].addr, kBar + 8192);
  EXPECT_EQ(seen[0].ptr, 0);
  EXPECT_EQ(f.get().ioreqs, 3u);
}

TEST_F(XensimTest, RepInsOnAPortKeepsThePortAndMovesTheBuffer) {
  RawDm dm(d());
  dm.start();
  dm.claim_port(0x1f0, 0x1f7);
  xensim::Access a = pio(IOREQ_READ, 0x1f0, 2);
  a.count = 4096;
  a.data_is_ptr = 1;
  a.data = 0x30000;
  auto f = async(a);
  const auto seen = serve_all(dm, f);
  ASSERT_EQ(seen.size(), 2u);  // 2048 words per page
  EXPECT_EQ(seen[0].addr, 0x1f0u);
  EXPECT_EQ(seen[1].addr, 0x1f0u);
  EXPECT_EQ(seen[1].data, 0x31000u);
  f.get();
}

TEST_F(XensimTest, ElementStraddlingAPageGoesAloneAndDataMovesThroughForeignMapping) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  std::vector<std::byte> src(16);
  for (size_t i = 0; i < src.size(); ++i) src[i] = std::byte(i + 1);
  guest.write_ram(dom, 0x40ffc, src);
  xensim::Access a = mmio(IOREQ_WRITE, kBar, 8);
  a.count = 2;
  a.data_is_ptr = 1;
  a.data = 0x40ffc;  // the first element straddles 0x41000
  auto f = async(a);
  auto r = dm.wait_request(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->count, 1u);
  // The device model reads the element through a two-page foreign mapping.
  xen_pfn_t gfns[2] = {0x40, 0x41};
  int errs[2] = {1, 1};
  auto* m = static_cast<uint8_t*>(xenforeignmemory_map(dm.fmem, d(), PROT_READ, 2, gfns, errs));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(errs[0], 0);
  EXPECT_EQ(m[0xffc], 1);
  EXPECT_EQ(m[0x1003], 8);
  xenforeignmemory_unmap(dm.fmem, m, 2);
  dm.respond(0, 0);
  r = dm.wait_request(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data, 0x41004u);
  EXPECT_EQ(r->addr, kBar + 8);
  dm.respond(0, 0);
  EXPECT_EQ(f.get().ioreqs, 2u);
}

}  // namespace
