// Xen calls failing while xvgpu-dm serves (set-up failures are covered in-process by
// tests/ioreq/frontend_xensim_test.cc, SetupFailure): each fault is injected host-wide in
// xensimd once the device model is ready, so it hits exactly the run-time use of the call.
#include "dm_fixture.h"

namespace xvgpu::faults {
namespace {

using namespace simgpu::engine;

class XenCallFaults : public DmFaults {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(start_with_engine_round_trip(seq_));
    take_baseline();
    warm_ring();
  }
  // A VRAM-only job: the engine maps its ring again after the baseline's flush, so that the
  // next guest mapping the engine makes is the one a test breaks.
  void warm_ring() {
    Descriptor d{};
    d.opcode = kOpFill;
    d.flags = kFlagIrq;
    d.seqno = ++seq_;
    d.dst = 0x200000;
    d.width = 4096;
    d.height = 1;
    d.fill_value = 0x11223344;
    submit({d});
    ASSERT_TRUE(wait_fence(seq_));
  }
  uint32_t seq_ = 0;
};

TEST_F(XenCallFaults, ForeignMapFailingDuringDmaRejectsTheJobAndTheEngineGoesOn) {
  const uint32_t errors = engine_read(kRegErrorCount);
  const auto msis = guest_->msis(dom_).size();
  guest_->inject_failure("xenforeignmemory_map", EIO, 1);
  // Source in a guest bucket nobody mapped yet: the engine's map of it is the failing call.
  guest_->write_ram(dom_, 0x1800000, pattern(8192, 7));
  submit({to_vram(0x1800000, 0x300000, 8192, ++seq_)});
  ASSERT_TRUE(wait_fence(seq_));
  EXPECT_EQ(engine_read(kRegErrorCount), errors + 1);
  EXPECT_EQ(engine_read(kRegErrorCode), kErrorGuestRange);
  EXPECT_TRUE(guest_->wait_msis(dom_, static_cast<uint32_t>(msis + 1), 2s)) << "no error interrupt";
  EXPECT_TRUE(eventually([&] { return log().find("DMA map") != std::string::npos; }, 2s)) << log();
  // The failure is not cached: the same buffer works at once, data intact.
  expect_engine_round_trip(0x1800000, 0x1a00000, 8192, seq_);
  expect_healthy_and_clean_exit();
}

TEST_F(XenCallFaults, MsiInjectionFailingLosesOneInterruptOnly) {
  const auto before = guest_->msis(dom_).size();
  guest_->inject_failure("xendevicemodel_inject_msi", EIO, 1);
  warm_ring();  // completes, its MSI fails
  EXPECT_TRUE(eventually([&] { return log().find("xendevicemodel_inject_msi") != std::string::npos; }, 2s))
      << log();
  EXPECT_EQ(guest_->msis(dom_).size(), before);
  warm_ring();
  EXPECT_TRUE(guest_->wait_msis(dom_, static_cast<uint32_t>(before + 1), 2s)) << "interrupts stay lost";
  expect_healthy_and_clean_exit();
}

TEST_F(XenCallFaults, IntxLevelFailingIsLoggedAndTheNextEdgeGetsThrough) {
  // The driver uses INTx instead of MSI: MSI enable off.
  for (unsigned cap = cfg_read(0x34, 1); cap != 0; cap = cfg_read(static_cast<uint16_t>(cap + 1), 1)) {
    if (cfg_read(static_cast<uint16_t>(cap), 1) == 0x05) {
      cfg_write(static_cast<uint16_t>(cap + 2), 2, cfg_read(static_cast<uint16_t>(cap + 2), 2) & ~1u);
    }
  }
  engine_write(kRegIrqStatus, ~0u);
  ASSERT_TRUE(guest_->wait_intx(dom_, kSbdf, 0, 0, 1s));
  guest_->inject_failure("xendevicemodel_set_pci_intx_level", EIO, 1);
  warm_ring();  // completion: asserting the line fails
  EXPECT_TRUE(
      eventually([&] { return log().find("xendevicemodel_set_pci_intx_level") != std::string::npos; }, 2s))
      << log();
  EXPECT_EQ(guest_->intx_level(dom_, kSbdf, 0), 0u);
  engine_write(kRegIrqStatus, ~0u);  // the driver acknowledges
  warm_ring();
  EXPECT_TRUE(guest_->wait_intx(dom_, kSbdf, 0, 1, 2s)) << "INTx stays lost";
  engine_write(kRegIrqStatus, ~0u);
  EXPECT_TRUE(guest_->wait_intx(dom_, kSbdf, 0, 0, 2s));
  expect_healthy_and_clean_exit();
}

TEST_F(XenCallFaults, EventChannelNotifyFailingStillAnswersTheVcpu) {
  guest_->inject_failure("xenevtchn_notify", EIO, 1);
  // The answer to this read is the notify that fails: the vCPU must still get it.
  EXPECT_EQ(engine_read(kRegId), kEngineId);
  EXPECT_EQ(engine_read(kRegVersion, VcpuId{1}), kEngineVersion);
  EXPECT_TRUE(eventually([&] { return log().find("xenevtchn_notify") != std::string::npos; }, 2s)) << log();
  expect_healthy_and_clean_exit();
}

TEST_F(XenCallFaults, VramRelocationFailingOnABarMoveIsRetriedOnTheNextDecodeEnable) {
  constexpr uint64_t kMoved = 0xd0000000;
  std::vector<std::byte> mark(16, std::byte{0x5a});
  guest_->write_ram(dom_, kBar0 + 0x1000, mark);
  cfg_write(0x04, 2, 0x0004);  // memory decode off: VRAM leaves the guest's physmap
  cfg_write(0x10, 4, static_cast<uint32_t>(kMoved));
  guest_->inject_failure("xendevicemodel_relocate_memory", EIO, 1);
  cfg_write(0x04, 2, 0x0006);  // on again at the new address: placing VRAM there fails
  EXPECT_TRUE(eventually([&] { return log().find("left unmapped") != std::string::npos; }, 2s)) << log();
  EXPECT_NE(log().find("xendevicemodel_relocate_memory"), std::string::npos) << log();
  // The trapped BARs still answer.
  EXPECT_EQ(engine_read(kRegId), kEngineId);
  // The driver toggles decode again: this time VRAM appears, with its contents.
  cfg_write(0x04, 2, 0x0004);
  cfg_write(0x04, 2, 0x0006);
  std::vector<std::byte> seen(16);
  ASSERT_NO_THROW(guest_->read_ram(dom_, kMoved + 0x1000, seen));
  EXPECT_TRUE(seen == mark);
  expect_healthy_and_clean_exit();
}

TEST_F(XenCallFaults, ClaimingABarFailingLeavesItUnmappedUntilTheNextDecodeEnable) {
  cfg_write(0x04, 2, 0x0004);
  guest_->inject_failure("xendevicemodel_map_io_range_to_ioreq_server", EIO, 1);
  cfg_write(0x04, 2, 0x0006);
  EXPECT_TRUE(eventually([&] { return log().find("left unmapped") != std::string::npos; }, 2s)) << log();
  EXPECT_EQ(cfg_read(0x00, 4), 0x11111234u) << "config space keeps working";
  cfg_write(0x04, 2, 0x0004);
  cfg_write(0x04, 2, 0x0006);
  EXPECT_EQ(engine_read(kRegId), kEngineId);
  warm_ring();
  expect_healthy_and_clean_exit();
}

TEST_F(XenCallFaults, ForeignMapFailingForARepBufferRefusesThatRequestOnly) {
  // rep movsd from guest memory into FENCE_ADDR_LO/HI: the device model maps the buffer.
  constexpr uint64_t kBuf = 0x2800000;  // a bucket nobody mapped yet
  const uint32_t vals[2] = {0x12340000, 0};
  guest_->write_ram(dom_, kBuf, std::as_bytes(std::span(vals)));
  xensim::Access a;
  a.space = xensim::Space::mmio;
  a.dir = 0;  // IOREQ_WRITE
  a.addr = kBar4 + kRegFenceAddrLo;
  a.size = 4;
  a.count = 2;
  a.data = kBuf;
  a.data_is_ptr = 1;
  guest_->inject_failure("xenforeignmemory_map", EIO, 1);
  ASSERT_EQ(guest_->access(dom_, VcpuId{0}, a).status, xensim::AccessStatus::ok) << "the vCPU got no answer";
  EXPECT_EQ(engine_read(kRegFenceAddrLo), 0u) << "a write whose data could not be read was applied";
  EXPECT_TRUE(eventually([&] { return log().find("refused ioreq") != std::string::npos; }, 2s)) << log();
  // The same request again: served.
  ASSERT_EQ(guest_->access(dom_, VcpuId{1}, a).status, xensim::AccessStatus::ok);
  EXPECT_EQ(engine_read(kRegFenceAddrLo), 0x12340000u);
  expect_healthy_and_clean_exit();
}

TEST_F(XenCallFaults, ReportingModifiedMemoryFailingDoesNotFailTheDma) {
  guest_->inject_failure("xendevicemodel_modified_memory", EIO, 1, true);
  expect_engine_round_trip(0x1c00000, 0x1e00000, 16384, seq_);  // the engine writes guest memory
  guest_->clear_failures();
  EXPECT_TRUE(
      eventually([&] { return log().find("xendevicemodel_modified_memory") != std::string::npos; }, 2s))
      << log();
  expect_healthy_and_clean_exit();
}

TEST_F(XenCallFaults, ATransientFailureOfTheDomainCheckIsNotMistakenForDeath) {
  // The device model polls its ioreq server every second to notice domain death.
  guest_->inject_failure("xendevicemodel_get_ioreq_server_info", EIO, 1, true);
  std::this_thread::sleep_for(2500ms);  // two checks fail
  guest_->clear_failures();
  ASSERT_TRUE(alive(dm_pid())) << "xvgpu-dm took a failing check for its domain's death:\n" << log();
  EXPECT_NE(log().find("xendevicemodel_get_ioreq_server_info"), std::string::npos) << log();
  EXPECT_EQ(engine_read(kRegId), kEngineId);
  warm_ring();
  expect_healthy_and_clean_exit();
}

}  // namespace
}  // namespace xvgpu::faults
