// The engine as a guest driver uses it: a command ring in guest RAM, copies, fills and
// blits, fences and MSI completions counted exactly, and hostile descriptors refused
// without touching anything and counted.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "guest_driver.h"
#include "test_host.h"
#include "vendor/simgpu/simgpu_types.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::simgpu::test {
namespace {

using namespace engine;

constexpr uint64_t kRingGpa = TestHost::kRamBase + 0x1000;
constexpr uint32_t kRingSize = 64;
constexpr uint64_t kData = TestHost::kRamBase + 0x100000;  // 1 MiB into guest RAM
constexpr uint64_t kFenceGpa = TestHost::kRamBase + 0x800;

class Engine : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(host_.load(simgpu_vendor()), 0);
    inst_ = host_.create(0);
    ASSERT_NE(inst_, nullptr);
    ASSERT_EQ(host_.start(inst_), 0);
    ring_ = setup_ring(host_, inst_, kRingGpa, kRingSize);
  }
  uint64_t stat(uint32_t index) {
    std::array<uint64_t, kStatCount> v{};
    host_.ops(inst_).read_stats(inst_->vgpu_data, v.data(), kStatCount);
    return v.at(index);
  }
  uint32_t reg(uint32_t r) { return engine_read(host_, inst_, r); }
  void fill_guest(uint64_t gpa, size_t n, uint32_t seed) {
    for (size_t k = 0; k < n; ++k)
      *host_.gpa(gpa + k) = static_cast<std::byte>((k * 2654435761u + seed) >> 13);
  }

  TestHost host_;
  TestInstance* inst_ = nullptr;
  Ring ring_;
};

TEST_F(Engine, IdentifiesItself) {
  EXPECT_EQ(reg(kRegId), kEngineId);
  EXPECT_EQ(reg(kRegVersion), kEngineVersion);
  EXPECT_EQ(reg(kRegCaps), kSupportedOps);
  EXPECT_EQ(reg(kRegControl), kControlEnable);
  EXPECT_EQ(reg(kRegRingSize), kRingSize);
}

TEST_F(Engine, CopiesFillsAndBlitsWithExactCompletions) {
  const uint32_t len = 256 * 1024;
  fill_guest(kData, len, 1);
  const uint64_t want = checksum(host_.gpa(kData), len);
  engine_write(host_, inst_, kRegFenceAddrLo, static_cast<uint32_t>(kFenceGpa));
  engine_write(host_, inst_, kRegFenceAddrHi, static_cast<uint32_t>(kFenceGpa >> 32));

  std::vector<Descriptor> jobs;
  jobs.push_back(copy_to_vram(kData, 0x10000, len, 1));               // guest -> VRAM
  jobs.push_back(blit(0x10000, 0x200000, 1024, 256, 1024, 2048, 2));  // 2D blit, wider pitch
  jobs.push_back(fill(0x400000, 64, 100, 128, 0xdeadbeef, 3));
  jobs.push_back(copy_from_vram(0x10000, kData + 0x200000, len, 4));  // VRAM -> guest
  jobs.push_back(copy_to_vram(kData, 0x600000, 4096, 5, /*irq=*/false));
  submit(host_, inst_, ring_, jobs);

  EXPECT_EQ(inst_->msis.load(), 4u) << "one MSI per descriptor that asked for one";
  EXPECT_EQ(reg(kRegFence), 5u);
  uint32_t fence_in_ram = 0;
  std::memcpy(&fence_in_ram, host_.gpa(kFenceGpa), 4);
  EXPECT_EQ(fence_in_ram, 5u);
  EXPECT_EQ(reg(kRegRingHead), 5u);
  EXPECT_EQ(reg(kRegStatus) & (kStatusBusy | kStatusError), 0u);
  EXPECT_EQ(reg(kRegJobsCompleted), 5u);
  EXPECT_EQ(reg(kRegIrqStatus), kIrqCompletion);

  // Data: the copy, the blit rows, the fill and the read-back.
  EXPECT_EQ(checksum(inst_->vram.data() + 0x10000, len), want);
  for (uint32_t y = 0; y < 256; ++y) {
    ASSERT_EQ(
        std::memcmp(inst_->vram.data() + 0x200000 + y * 2048, inst_->vram.data() + 0x10000 + y * 1024, 1024),
        0);
    ASSERT_EQ(inst_->vram[0x200000 + y * 2048 + 1024], std::byte{0}) << "the gap between rows stays";
  }
  for (uint32_t y = 0; y < 100; ++y) {
    for (uint32_t x = 0; x < 64; x += 4) {
      uint32_t v = 0;
      std::memcpy(&v, inst_->vram.data() + 0x400000 + y * 128 + x, 4);
      ASSERT_EQ(v, 0xdeadbeefu);
    }
    ASSERT_EQ(inst_->vram[0x400000 + y * 128 + 64], std::byte{0});
  }
  EXPECT_EQ(checksum(host_.gpa(kData + 0x200000), len), want);

  EXPECT_EQ(stat(kStatEngineJobs), 5u);
  EXPECT_EQ(stat(kStatEngineBytes), uint64_t{len} * 2 + 1024 * 256 + 64 * 100 + 4096);
  EXPECT_EQ(stat(kStatInterrupts), 4u);
  EXPECT_EQ(stat(kStatRejectedDescriptors), 0u);
  EXPECT_EQ(host_.open_mappings(), 0) << "every guest mapping released";

  // Acknowledge the interrupt (write 1 to clear).
  engine_write(host_, inst_, kRegIrqStatus, kIrqCompletion);
  EXPECT_EQ(reg(kRegIrqStatus), 0u);
}

// Live migration depends on it (ABI 1.3): every byte range the engine writes into VRAM is
// reported to the core, exactly, and nothing it only reads.
TEST_F(Engine, ReportsEachVramRangeItWritesToTheCore) {
  fill_guest(kData, 8192, 3);
  std::vector<Descriptor> jobs;
  jobs.push_back(copy_to_vram(kData, 0x10000, 8192, 1));
  jobs.push_back(blit(0x10000, 0x200000, 1024, 4, 1024, 2048, 2));
  jobs.push_back(fill(0x400000, 64, 10, 128, 0x01020304, 3));
  jobs.push_back(copy_from_vram(0x10000, kData + 0x20000, 4096, 4));
  submit(host_, inst_, ring_, jobs);
  ASSERT_EQ(reg(kRegFence), 4u);
  std::lock_guard lock(inst_->mu);
  const std::vector<std::pair<uint64_t, uint64_t>> want = {
      {0x10000, 8192}, {0x200000, 3 * 2048 + 1024}, {0x400000, 9 * 128 + 64}};
  EXPECT_EQ(inst_->vendor_writes, want);
}

TEST_F(Engine, RingWrapsAroundWithManyCompletions) {
  fill_guest(kData, 64 * 1024, 7);
  uint32_t seq = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<Descriptor> jobs;
    for (int k = 0; k < 50; ++k) {
      ++seq;
      jobs.push_back(copy_to_vram(kData + (seq % 16) * 4096, uint64_t{seq} * 4096, 4096, seq));
    }
    submit(host_, inst_, ring_, jobs);  // 50 per doorbell: wraps the 64-entry ring
  }
  EXPECT_EQ(inst_->msis.load(), 250u);
  EXPECT_EQ(reg(kRegFence), 250u);
  EXPECT_EQ(reg(kRegRingHead), 250u % kRingSize);
  for (uint32_t s = 1; s <= 250; ++s) {
    ASSERT_EQ(std::memcmp(inst_->vram.data() + uint64_t{s} * 4096, host_.gpa(kData + (s % 16) * 4096), 4096),
              0);
  }
}

TEST_F(Engine, IntxWhenMsiIsOff) {
  host_.set_msi(inst_, false);
  submit(host_, inst_, ring_, {fill(0, 64, 1, 64, 1, 1), fill(64, 64, 1, 64, 2, 2)});
  EXPECT_EQ(inst_->msis.load(), 0u);
  EXPECT_TRUE(inst_->intx_level.load()) << "level stays up until acknowledged";
  EXPECT_EQ(inst_->intx_asserts.load(), 1u);
  engine_write(host_, inst_, kRegIrqStatus, kIrqCompletion);
  EXPECT_FALSE(inst_->intx_level.load());
  host_.set_msi(inst_, true);
  submit(host_, inst_, ring_, {fill(0, 64, 1, 64, 3, 3)});
  EXPECT_EQ(inst_->msis.load(), 1u);
}

TEST_F(Engine, MaskedCompletionsRaiseNothing) {
  engine_write(host_, inst_, kRegIrqMask, kIrqError);
  submit(host_, inst_, ring_, {fill(0, 64, 1, 64, 1, 1)});
  EXPECT_EQ(inst_->msis.load(), 0u);
  EXPECT_EQ(reg(kRegIrqStatus), kIrqCompletion) << "the cause is still latched";
}

class HostileEngine : public Engine {
 protected:
  // VRAM and guest RAM canaries: nothing a rejected descriptor names may change.
  void SetUp() override {
    Engine::SetUp();
    std::memset(inst_->vram.data(), 0x5a, inst_->vram.size());
    fill_guest(kData, 2u << 20, 3);
    vram_sum_ = checksum(inst_->vram.data(), inst_->vram.size());
    ram_sum_ = ram_outside_ring();
  }
  // Guest RAM except the ring slots (which the guest itself writes).
  uint64_t ram_outside_ring() {
    auto ram = host_.ram();
    const size_t ring_at = kRingGpa - TestHost::kRamBase;
    const size_t ring_len = size_t{kRingSize} * kDescriptorSize;
    return checksum(ram.data(), ring_at) ^
           (checksum(ram.data() + ring_at + ring_len, ram.size() - ring_at - ring_len) * 31);
  }
  uint64_t vram_sum_ = 0;
  uint64_t ram_sum_ = 0;
};

TEST_F(HostileEngine, BadDescriptorsAreRejectedCountedAndHarmless) {
  const uint64_t vram = inst_->vram.size();
  const uint64_t ram_end = TestHost::kRamBase + host_.ram().size();
  std::vector<Descriptor> bad;
  bad.push_back(copy_to_vram(kData, vram - 16, 32, 1));                 // VRAM end
  bad.push_back(copy_to_vram(kData, ~uint64_t{0} - 8, 32, 2));          // VRAM offset wraps
  bad.push_back(copy_from_vram(vram, kData, 4, 3));                     // VRAM source past end
  bad.push_back(copy_to_vram(ram_end - 16, 0, 32, 4));                  // guest RAM end
  bad.push_back(copy_from_vram(0, 0x10, 64, 5));                        // below guest RAM
  bad.push_back(copy_from_vram(0, ~uint64_t{0} - 8, 64, 6));            // guest address wraps
  bad.push_back(blit(0, 1000, 4096, 1, 0, 0, 7));                       // overlapping blit
  bad.push_back(copy_from_vram(0, kRingGpa + 64, 64, 8));               // into the ring
  Descriptor huge = fill(0, 0xfffffffc, 0xffffffff, 0xffffffff, 0, 9);  // huge counts
  bad.push_back(huge);
  Descriptor pitch = blit(0, 0x100000, 4096, 4, 16, 4096, 10);  // pitch < width
  bad.push_back(pitch);
  Descriptor op = fill(0, 64, 1, 64, 0, 11);
  op.opcode = 0x77;
  bad.push_back(op);
  Descriptor flags = fill(0, 64, 1, 64, 0, 12);
  flags.flags = 0xffff0000;
  bad.push_back(flags);
  Descriptor rsv = fill(0, 64, 1, 64, 0, 13);
  rsv.reserved0 = 1;
  bad.push_back(rsv);
  submit(host_, inst_, ring_, bad);

  EXPECT_EQ(stat(kStatRejectedDescriptors), bad.size());
  EXPECT_EQ(reg(kRegErrorCount), bad.size());
  EXPECT_EQ(reg(kRegErrorCode), kErrorBadFlags);
  EXPECT_NE(reg(kRegStatus) & kStatusError, 0u);
  EXPECT_EQ(reg(kRegFence), 13u) << "rejected descriptors still retire in order";
  EXPECT_EQ(reg(kRegRingHead), bad.size());
  EXPECT_EQ(stat(kStatEngineJobs), 0u);
  EXPECT_EQ(stat(kStatEngineBytes), 0u);
  EXPECT_EQ(inst_->msis.load(), bad.size()) << "one error interrupt each (mask has kIrqError)";
  EXPECT_EQ(host_.open_mappings(), 0);
  EXPECT_EQ(checksum(inst_->vram.data(), inst_->vram.size()), vram_sum_) << "VRAM changed";
  EXPECT_EQ(ram_outside_ring(), ram_sum_) << "guest RAM changed";

  // The engine still works afterwards.
  submit(host_, inst_, ring_, {copy_to_vram(kData, 0, 4096, 100)});
  EXPECT_EQ(std::memcmp(inst_->vram.data(), host_.gpa(kData), 4096), 0);
  EXPECT_EQ(reg(kRegFence), 100u);
  EXPECT_EQ(stat(kStatEngineJobs), 1u);
}

TEST_F(HostileEngine, RingPointersOutOfRange) {
  // Doorbell beyond the ring: refused, nothing runs.
  engine_write(host_, inst_, kRegDoorbell, kRingSize);
  engine_write(host_, inst_, kRegDoorbell, 0xffffffff);
  host_.drain(inst_);
  EXPECT_EQ(reg(kRegErrorCode), kErrorBadTail);
  EXPECT_EQ(reg(kRegRingTail), 0u);
  EXPECT_EQ(stat(kStatRejectedDescriptors), 2u);

  // Reprogramming the ring while enabled is refused.
  engine_write(host_, inst_, kRegRingBaseLo, 0x40);
  EXPECT_EQ(reg(kRegRingBaseLo), static_cast<uint32_t>(kRingGpa));
  EXPECT_EQ(reg(kRegErrorCode), kErrorBusyConfig);

  // Invalid ring geometry is refused at enable.
  for (const auto& [base, size] : std::vector<std::pair<uint64_t, uint32_t>>{{kRingGpa, 0},
                                                                             {kRingGpa, 3},
                                                                             {kRingGpa, kMaxRingSize * 2},
                                                                             {kRingGpa + 8, 16},
                                                                             {~uint64_t{0} - 63, 16}}) {
    engine_write(host_, inst_, kRegControl, kControlReset);
    engine_write(host_, inst_, kRegRingBaseLo, static_cast<uint32_t>(base));
    engine_write(host_, inst_, kRegRingBaseHi, static_cast<uint32_t>(base >> 32));
    engine_write(host_, inst_, kRegRingSize, size);
    engine_write(host_, inst_, kRegControl, kControlEnable);
    EXPECT_EQ(reg(kRegControl), 0u) << "base " << base << " size " << size;
    EXPECT_EQ(reg(kRegErrorCode), kErrorBadRing);
    EXPECT_NE(reg(kRegStatus) & kStatusRingError, 0u);
  }

  // A ring outside guest RAM halts the engine at the first fetch.
  engine_write(host_, inst_, kRegControl, kControlReset);
  engine_write(host_, inst_, kRegRingBaseLo, 0x40000000);
  engine_write(host_, inst_, kRegRingSize, 16);
  engine_write(host_, inst_, kRegControl, kControlEnable);
  engine_write(host_, inst_, kRegDoorbell, 5);
  host_.drain(inst_);
  EXPECT_EQ(reg(kRegErrorCode), kErrorRingFault);
  EXPECT_EQ(reg(kRegControl), 0u) << "halted";
  EXPECT_EQ(reg(kRegRingHead), 0u);

  EXPECT_EQ(checksum(inst_->vram.data(), inst_->vram.size()), vram_sum_);
  EXPECT_EQ(ram_outside_ring(), ram_sum_);
  EXPECT_EQ(host_.open_mappings(), 0);
  EXPECT_EQ(stat(kStatEngineJobs), 0u);
}

TEST_F(HostileEngine, FenceAddressOutsideRamIsAnError) {
  engine_write(host_, inst_, kRegFenceAddrLo, 0x10);  // below guest RAM
  submit(host_, inst_, ring_, {fill(0, 64, 1, 64, 0x01020304, 1)});
  EXPECT_EQ(reg(kRegErrorCode), kErrorFenceFault);
  EXPECT_EQ(reg(kRegFence), 1u);
  EXPECT_EQ(stat(kStatEngineJobs), 1u) << "the fill itself completed";
  engine_write(host_, inst_, kRegFenceAddrLo, static_cast<uint32_t>(kRingGpa + 4));  // inside the ring
  submit(host_, inst_, ring_, {fill(0, 64, 1, 64, 0x01020304, 2)});
  EXPECT_EQ(reg(kRegErrorCode), kErrorFenceFault);
  EXPECT_EQ(reg(kRegErrorCount), 2u);
}

TEST_F(HostileEngine, ResetWhileBusyForgetsTheRing) {
  std::vector<Descriptor> jobs;
  for (int k = 0; k < 60; ++k) jobs.push_back(copy_to_vram(kData, uint64_t(k) * 65536, 65536, k + 1));
  submit(host_, inst_, ring_, jobs, /*wait=*/false);
  engine_write(host_, inst_, kRegControl, kControlReset);
  host_.drain(inst_);
  EXPECT_EQ(reg(kRegControl), 0u);
  EXPECT_EQ(reg(kRegRingHead), 0u);
  EXPECT_EQ(reg(kRegRingTail), 0u);
  EXPECT_EQ(reg(kRegFence), 0u);
  EXPECT_EQ(host_.open_mappings(), 0);
}

}  // namespace
}  // namespace xvgpu::simgpu::test
