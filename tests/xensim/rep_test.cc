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
  a.data = 0x20008;  // hvmemul_do_io_addr going down: (0x008 + 4 - 1) / 4 = 2 elements, then 1
  auto f = async(a);
  const auto seen = serve_all(dm, f);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].count, 2u);
  EXPECT_EQ(seen[0].df, 1);
  EXPECT_EQ(seen[1].count, 1u);
  EXPECT_EQ(seen[1].addr, kBar + 0xffc - 8);
  EXPECT_EQ(seen[1].data, 0x20000u);
  f.get();
  // Going below the start of a range that begins inside its page: the first byte
  // (addr - (count-1)*size) is outside, so the whole ioreq is unclaimed.
  dm.claim_mmio(kBar + 0x2100, kBar + 0x21ff);
  a.data = 0x2000c;  // (0x00c + 4 - 1) / 4 = all 3 elements in one ioreq
  a.addr = kBar + 0x2104;
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

// rep stos into MMIO: one ioreq per page, the value itself in data (data_is_ptr 0), clipped
// where the MMIO range crosses a page (hvmemul_do_io), upwards and downwards.
TEST_F(XensimTest, RepStosIsOneRepeatedValueClippedAtTheMmioPage) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0x2fff);
  xensim::Access a = mmio(IOREQ_WRITE, kBar + 0xff8, 2, 0xbeef);
  a.count = 8;  // 4 words fit before 0x1000
  auto f = async(a);
  auto seen = serve_all(dm, f);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].addr, kBar + 0xff8);
  EXPECT_EQ(seen[0].count, 4u);
  EXPECT_EQ(seen[0].data, 0xbeefu);
  EXPECT_EQ(seen[0].ptr, 0);
  EXPECT_EQ(seen[1].addr, kBar + 0x1000);
  EXPECT_EQ(seen[1].count, 4u);
  EXPECT_EQ(seen[1].data, 0xbeefu);
  EXPECT_EQ(f.get().ioreqs, 2u);
  // Downwards from 0x1004: (0x004 + 2) / 2 = 3 words stay in the page, the rest below it.
  a.addr = kBar + 0x1004;
  a.df = 1;
  f = async(a);
  seen = serve_all(dm, f);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].count, 3u);
  EXPECT_EQ(seen[0].df, 1);
  EXPECT_EQ(seen[1].addr, kBar + 0xffe);
  EXPECT_EQ(seen[1].count, 5u);
  f.get();
  // A single item that straddles the page goes alone.
  a = mmio(IOREQ_WRITE, kBar + 0xffe, 4, 7);
  a.count = 2;
  f = async(a);
  seen = serve_all(dm, f);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].count, 1u);
  EXPECT_EQ(seen[1].addr, kBar + 0x1002);
  f.get();
}

// No x86 instruction repeats a value anywhere but rep stos to memory.
TEST_F(XensimTest, RepeatedValuesOtherThanRepStosAreNotInstructions) {
  xensim::Access a = pio(IOREQ_WRITE, 0x80, 1);
  a.count = 2;
  EXPECT_EQ(guest.access(dom, VcpuId{0}, a).status, xensim::AccessStatus::invalid);
  a = mmio(IOREQ_READ, kBar, 4);
  a.count = 2;
  EXPECT_EQ(guest.access(dom, VcpuId{0}, a).status, xensim::AccessStatus::invalid);
}

// A load or store that crosses a page is split there, each part in power-of-two chunks
// (hvmemul_linear_mmio_access): a dword at 0xffe is two word ioreqs.
TEST_F(XensimTest, SingleAccessAcrossAPageIsSplitIntoChunks) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0x1fff);
  xensim::Access a = mmio(IOREQ_READ, kBar + 0xffd, 8);
  auto f = async(a);
  std::vector<Seen> seen;
  const uint64_t answers[] = {0xbbaa, 0xcc, 0x11223344, 0x55};
  for (const uint64_t answer : answers) {
    auto r = dm.wait_request(0);
    ASSERT_TRUE(r);
    seen.push_back({r->addr, r->data, r->count, r->size, r->df, r->data_is_ptr});
    dm.respond(0, answer);
  }
  const auto res = f.get();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].addr, kBar + 0xffd);  // 3 bytes left in the page: 2 + 1
  EXPECT_EQ(seen[0].size, 2u);
  EXPECT_EQ(seen[1].addr, kBar + 0xfff);
  EXPECT_EQ(seen[1].size, 1u);
  EXPECT_EQ(seen[2].addr, kBar + 0x1000);  // 5 in the next: 4 + 1
  EXPECT_EQ(seen[2].size, 4u);
  EXPECT_EQ(seen[3].addr, kBar + 0x1004);
  EXPECT_EQ(seen[3].size, 1u);
  EXPECT_EQ(res.ioreqs, 4u);
  EXPECT_EQ(res.data, 0x5511223344ccbbaaull);
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
