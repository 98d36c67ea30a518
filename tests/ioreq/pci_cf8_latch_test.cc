#include "ioreq/pci_cf8_latch.h"

#include <gtest/gtest.h>

namespace xvgpu::ioreq {
namespace {

gpu::IoAccess port(uint64_t addr, uint8_t size) {
  gpu::IoAccess a;
  a.space = gpu::AddressSpace::Port;
  a.addr = addr;
  a.size = size;
  return a;
}

TEST(PciCf8Latch, CoversOnlyPortAccessesInsideTheAddressRegister) {
  EXPECT_TRUE(PciCf8Latch::covers(port(0xcf8, 4)));
  EXPECT_TRUE(PciCf8Latch::covers(port(0xcfb, 1)));
  EXPECT_TRUE(PciCf8Latch::covers(port(0xcfa, 2)));
  EXPECT_FALSE(PciCf8Latch::covers(port(0xcfa, 4)));  // runs into CFC
  EXPECT_FALSE(PciCf8Latch::covers(port(0xcfc, 4)));
  EXPECT_FALSE(PciCf8Latch::covers(port(0xcf7, 1)));
  auto mmio = port(0xcf8, 4);
  mmio.space = gpu::AddressSpace::Mmio;
  EXPECT_FALSE(PciCf8Latch::covers(mmio));
  auto cfg = port(0xcf8, 4);
  cfg.space = gpu::AddressSpace::PciConfig;
  EXPECT_FALSE(PciCf8Latch::covers(cfg));
}

TEST(PciCf8Latch, FourByteWritesLatchAndFourByteReadsReturnIt) {
  PciCf8Latch l;
  EXPECT_EQ(l.read(port(0xcf8, 4)), 0u);
  l.write(port(0xcf8, 4), 0x8000283c);
  EXPECT_EQ(l.read(port(0xcf8, 4)), 0x8000283cu);
  EXPECT_EQ(l.value(), 0x8000283cu);
}

TEST(PciCf8Latch, OtherAccessesReadAllOnesAndDoNotLatch) {
  PciCf8Latch l;
  l.write(port(0xcf8, 4), 0x80000000);
  l.write(port(0xcfb, 1), 0x01);
  l.write(port(0xcf8, 2), 0x1234);
  EXPECT_EQ(l.value(), 0x80000000u);
  EXPECT_EQ(l.read(port(0xcf8, 2)), ~uint64_t{0});
  EXPECT_EQ(l.read(port(0xcf9, 1)), ~uint64_t{0});
  EXPECT_EQ(l.read(port(0xcfa, 2)), ~uint64_t{0});
}

}  // namespace
}  // namespace xvgpu::ioreq
