// Guest memory vanishing under a DMA, the domain destroyed under the device model, and the
// device model SIGKILLed and started again for the same vGPU.
#include <future>

#include "dm_fixture.h"

namespace xvgpu::faults {
namespace {

using namespace simgpu::engine;

class GuestFaults : public DmFaults {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(start_with_engine_round_trip(seq_));
    take_baseline();
  }
  uint32_t seq_ = 0;
};

TEST_F(GuestFaults, MemoryRemovedAfterAJobMappedItIsNotReadThroughAStaleMapping) {
  constexpr uint64_t kSrc = 0x1000000;
  guest_->write_ram(dom_, kSrc, pattern(16384, 1));
  submit({to_vram(kSrc, 0x300000, 16384, ++seq_)});  // maps (and caches) the source's bucket
  ASSERT_TRUE(wait_fence(seq_));
  const uint32_t errors = engine_read(kRegErrorCount);
  // The guest balloons the source out: Xen broadcasts INVALIDATE, the device model answers.
  ASSERT_EQ(guest_->remove_memory(dom_, VcpuId{1}, Gfn{kSrc >> 12}, 4), xensim::AccessStatus::ok);
  submit({to_vram(kSrc, 0x300000, 16384, ++seq_)});
  ASSERT_TRUE(wait_fence(seq_));
  EXPECT_EQ(engine_read(kRegErrorCount), errors + 1) << "a DMA read memory the guest no longer has";
  EXPECT_EQ(engine_read(kRegErrorCode), kErrorGuestRange);
  EXPECT_TRUE(eventually([&] { return log().find("DMA map") != std::string::npos; }, 2s)) << log();
  // The pages right after the hole still work, and so does the device.
  expect_engine_round_trip(kSrc + 16384, kSrc + 0x40000, 8192, seq_);
  expect_healthy_and_clean_exit();
}

TEST_F(GuestFaults, MemoryRemovedWhileTheEngineCopiesEndsEveryJobAndKeepsTheDevice) {
  // 60 copies of 2 MiB from [32 MiB, 48 MiB) of guest RAM: the engine is busy for a while.
  constexpr uint64_t kSrc = 0x2000000;
  constexpr uint32_t kLen = 2u << 20;
  constexpr uint32_t kJobs = 60;
  guest_->write_ram(dom_, kSrc, pattern(16u << 20, 3));
  const uint32_t first = seq_ + 1;
  std::vector<Descriptor> jobs;
  for (uint32_t k = 0; k < kJobs; ++k) {
    jobs.push_back(to_vram(kSrc + uint64_t(k % 8) * kLen, uint64_t(k % 8) * kLen, kLen, ++seq_));
  }
  submit(jobs);
  // Once a few jobs are done, the guest gives back 1 MiB in the middle of the source: Xen
  // broadcasts INVALIDATE while jobs hold pinned mappings of those pages.
  ASSERT_TRUE(eventually([&] { return engine_read(kRegFence, VcpuId{1}) >= first + 8; }, 5s));
  const uint32_t fence_before = engine_read(kRegFence, VcpuId{1});
  ASSERT_EQ(guest_->remove_memory(dom_, VcpuId{1}, Gfn{(kSrc + 5 * kLen) >> 12}, 256),
            xensim::AccessStatus::ok);
  const uint32_t fence_after = engine_read(kRegFence, VcpuId{1});
  ASSERT_TRUE(wait_fence(seq_, 20s)) << "the engine did not finish its ring";
  const uint32_t rejected = engine_read(kRegErrorCount);
  std::printf("[ figures ] %u-%u of %u jobs done when the memory went; %u rejected afterwards\n",
              fence_before - first + 1, fence_after - first + 1, kJobs, rejected);
  EXPECT_LT(fence_after, seq_) << "the engine was already done: not mid-DMA";
  // Jobs reading the hole that start after the removal fail (error status); those done before
  // it completed; the one running meanwhile may go either way (its pages stay pinned). No job is
  // lost: FENCE reached the last one.
  uint32_t surely_after = 0;
  uint32_t maybe_after = 0;
  for (uint32_t k = 0; k < kJobs; ++k) {
    if (k % 8 != 5) continue;
    if (first + k > fence_after + 1) ++surely_after;
    if (first + k > fence_before) ++maybe_after;
  }
  EXPECT_GE(rejected, surely_after);
  EXPECT_LE(rejected, maybe_after);
  EXPECT_EQ(engine_read(kRegErrorCode), kErrorGuestRange);
  expect_engine_round_trip(0x800000, 0xa00000, 64 << 10, seq_);
  expect_healthy_and_clean_exit();
}

TEST_F(GuestFaults, DomainDestroyedMidDmaEndsTheDeviceModelCleanly) {
  constexpr uint32_t kLen = 8u << 20;
  std::vector<Descriptor> jobs;
  for (int k = 0; k < 60; ++k) jobs.push_back(to_vram(0x1000000 + uint64_t(k % 2) * kLen, 0, kLen, ++seq_));
  submit(jobs);
  std::this_thread::sleep_for(20ms);
  const uint32_t fence = engine_read(kRegFence);
  EXPECT_LT(fence, seq_) << "the engine was already done: not mid-DMA";
  const auto t0 = std::chrono::steady_clock::now();
  guest_->destroy_domain(dom_);
  const int rc = wait_dm_exit(5s);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("[ figures ] fence %u of %u at destruction; xvgpu-dm exited after %lld ms\n", fence - 2,
              seq_ - 2, static_cast<long long>(took.count()));
  EXPECT_EQ(rc, 0) << log();
  EXPECT_LT(took, 3s);
  EXPECT_NE(log().find("the domain is gone"), std::string::npos) << log();
  EXPECT_EQ(reservations(), 0u);
  // Its mappings went with it: the zombie domain is finally destroyed.
  EXPECT_TRUE(domain_gone_within(2s)) << "the domain stays dying: mappings leaked";
}

TEST_F(GuestFaults, SigkillThenANewInstanceForTheSameUuidWorks) {
  ASSERT_EQ(reservations(), 1u);
  ::kill(dm_pid(), SIGKILL);
  EXPECT_EQ(wait_dm_exit(5s), 128 + SIGKILL);
  EXPECT_EQ(reservations(), 1u) << "the dead process's reservation file stays (stale)";
  ASSERT_TRUE(start_dm()) << log();
  EXPECT_NE(log().find("removing stale vGPU reservation " + std::string(kUuid)), std::string::npos) << log();
  EXPECT_EQ(reservations(), 1u);
  // The new instance's vGPU starts from reset: the driver programs it again.
  program_device();
  expect_engine_round_trip(0x800000, 0xa00000, 64 << 10, seq_);
  // Xen kept the killed process's ioreq server (nothing tells it the process died); a
  // synchronous INVALIDATE broadcast would wait for it forever. The new instance removed it.
  EXPECT_NE(log().find("destroyed ioreq server 0 of domain " + std::to_string(dom_.value)), std::string::npos)
      << log();
  take_baseline();  // an INVALIDATE: answered by the live server only
  expect_healthy_and_clean_exit();
}

}  // namespace
}  // namespace xvgpu::faults
