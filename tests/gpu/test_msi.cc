#include "gpu/msi_delivery.h"

#include <gtest/gtest.h>

#include "support/fake_platform.h"
#include "test_layouts.h"

namespace xvgpu::gpu {
namespace {

class MsiTest : public ::testing::Test {
 protected:
  void enable(unsigned mme_log2 = 0) {
    cfg.write(pci::kCommand, 2, pci::kCmdBusMaster);
    cfg.write(0x44, 4, 0xfee01000);
    cfg.write(0x48, 4, 0x00000001);  // upper address bits pass through untouched
    cfg.write(0x4c, 2, 0x4120);
    cfg.write(0x42, 2, static_cast<uint16_t>(pci::kMsiCtrlEnable | mme_log2 << 4));
  }
  PciConfigSpace cfg{test::full_layout()};
  test::FakeInterruptSink sink;
};

TEST_F(MsiTest, DisabledUntilTheGuestEnablesIt) {
  EXPECT_EQ(raise_msi(cfg, 0, sink), MsiResult::Disabled);
  EXPECT_EQ(sink.msi_count(), 0u);
}

TEST_F(MsiTest, DeliversTheGuestsAddressAndDataUnchanged) {
  enable();
  EXPECT_EQ(raise_msi(cfg, 0, sink), MsiResult::Delivered);
  ASSERT_EQ(sink.msis().size(), 1u);
  EXPECT_EQ(sink.msis()[0], (test::RecordedMsi{0x1fee01000, 0x4120}));
}

TEST_F(MsiTest, BusMasterOffHoldsNothingBack) {
  enable();
  cfg.write(pci::kCommand, 2, 0);
  EXPECT_EQ(raise_msi(cfg, 0, sink), MsiResult::Disabled);
  EXPECT_EQ(sink.msi_count(), 0u);
}

TEST_F(MsiTest, MultipleVectorsSelectLowDataBits) {
  enable(2);  // 4 vectors
  EXPECT_EQ(raise_msi(cfg, 3, sink), MsiResult::Delivered);
  EXPECT_EQ(sink.msis().back().data, 0x4123u);
  EXPECT_EQ(raise_msi(cfg, 4, sink), MsiResult::Disabled) << "beyond the implemented vectors";
  // MME larger than MMC is clamped to MMC.
  cfg.write(0x42, 2, pci::kMsiCtrlEnable | 7u << 4);
  EXPECT_EQ(raise_msi(cfg, 3, sink), MsiResult::Delivered);
}

TEST_F(MsiTest, VectorsBeyondTheEnabledCountAreDropped) {
  enable(0);  // guest enabled one vector only
  EXPECT_EQ(raise_msi(cfg, 1, sink), MsiResult::Disabled);
  EXPECT_EQ(sink.msi_count(), 0u);
}

TEST_F(MsiTest, MaskedVectorPendsAndIsSentOnUnmask) {
  enable(2);
  cfg.write(0x50, 4, 0b0100);  // mask vector 2
  EXPECT_EQ(raise_msi(cfg, 2, sink), MsiResult::Pending);
  EXPECT_EQ(raise_msi(cfg, 2, sink), MsiResult::Pending) << "still one pending bit";
  EXPECT_EQ(sink.msi_count(), 0u);
  EXPECT_EQ(cfg.read(0x54, 4), 0b0100u);
  EXPECT_EQ(raise_msi(cfg, 1, sink), MsiResult::Delivered) << "other vectors are not affected";
  EXPECT_EQ(deliver_unmasked_pending(cfg, sink), 0u) << "still masked";
  cfg.write(0x50, 4, 0);
  EXPECT_EQ(deliver_unmasked_pending(cfg, sink), 1u);
  EXPECT_EQ(sink.msis().back().data, 0x4122u);
  EXPECT_EQ(cfg.read(0x54, 4), 0u);
  EXPECT_EQ(sink.msi_count(), 2u);
}

TEST_F(MsiTest, PendingWaitsForEnable) {
  enable(0);
  cfg.write(0x50, 4, 1);
  EXPECT_EQ(raise_msi(cfg, 0, sink), MsiResult::Pending);
  cfg.write(0x42, 2, 0);  // MSI off
  cfg.write(0x50, 4, 0);  // unmask while off: nothing sent
  EXPECT_EQ(deliver_unmasked_pending(cfg, sink), 0u);
  cfg.write(0x42, 2, pci::kMsiCtrlEnable);
  EXPECT_EQ(deliver_unmasked_pending(cfg, sink), 1u);
}

}  // namespace
}  // namespace xvgpu::gpu
