#include "ioreq/claim_table.h"

#include <gtest/gtest.h>

namespace xvgpu::ioreq {
namespace {

using gpu::IoSpace;

TEST(ClaimTable, ContainsOnlyWholeAccessesInsideOneRange) {
  ClaimTable t;
  t.add(IoSpace::Mmio, 0x1000, 0x1fff);
  t.add(IoSpace::Mmio, 0x2000, 0x2fff);
  EXPECT_TRUE(t.contains(IoSpace::Mmio, 0x1000, 0x1fff));
  EXPECT_TRUE(t.contains(IoSpace::Mmio, 0x1ffc, 0x1fff));
  EXPECT_FALSE(t.contains(IoSpace::Mmio, 0x1ffc, 0x2003));  // straddles two claims, as Xen refuses
  EXPECT_FALSE(t.contains(IoSpace::Mmio, 0xfff, 0x1000));
  EXPECT_FALSE(t.contains(IoSpace::Port, 0x1000, 0x1000));  // other space
  EXPECT_FALSE(t.contains(IoSpace::Mmio, 0x1004, 0x1000));  // end before start
}

TEST(ClaimTable, RefusesOverlapsInvertedAndUnknownReleases) {
  ClaimTable t;
  t.add(IoSpace::Port, 0x100, 0x10f);
  EXPECT_THROW(t.add(IoSpace::Port, 0x10f, 0x120), Error);
  EXPECT_THROW(t.add(IoSpace::Port, 0xf0, 0x100), Error);
  EXPECT_THROW(t.add(IoSpace::Port, 0x200, 0x1ff), Error);
  EXPECT_THROW(t.add(IoSpace::Port, 0xfff0, 0x10000), Error);
  EXPECT_THROW(t.remove(IoSpace::Port, 0x100, 0x107), Error);
  t.remove(IoSpace::Port, 0x100, 0x10f);
  EXPECT_FALSE(t.contains(IoSpace::Port, 0x100, 0x100));
  t.add(IoSpace::Port, 0x100, 0x10f);  // re-claim after release works
}

TEST(ClaimTable, PciFunctions) {
  ClaimTable t;
  const Sbdf a{0, 0, 5, 0};
  t.add_pci(a);
  EXPECT_TRUE(t.contains_pci(a));
  EXPECT_FALSE(t.contains_pci(Sbdf{0, 0, 5, 1}));
  EXPECT_THROW(t.add_pci(a), Error);
  EXPECT_THROW(t.add_pci(Sbdf{0, 0, 32, 0}), Error);
  t.remove_pci(a);
  EXPECT_THROW(t.remove_pci(a), Error);
}

}  // namespace
}  // namespace xvgpu::ioreq
