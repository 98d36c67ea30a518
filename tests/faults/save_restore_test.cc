// Save and restore of a device model's vGPUs (save-state, --restore-state) on xensimd, with the
// production xvgpu-dm: the state saved in the middle of engine work comes back field for field,
// no job is lost or repeated, the VRAM the domain holds is adopted (not populated again), and a
// damaged or mismatched state is refused with its reason before anything is served.
#include <fstream>
#include <nlohmann/json.hpp>

#include "dm/device_state.h"
#include "dm_fixture.h"

namespace xvgpu::faults {
namespace {

using namespace simgpu::engine;

class SaveRestore : public DmFaults {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(start_with_engine_round_trip(seq_)); }
  [[nodiscard]] std::string state_path(const char* name = "saved.state") const {
    return (dir_ / name).string();
  }
  nlohmann::json save(const std::string& path) {
    control::Client c(control_path(), 10s);
    return c.call({{"cmd", "save-state"}, {"path", path}});
  }
  static std::vector<uint8_t> bytes_of(const std::string& path) { return dm::read_device_state_file(path); }
  static void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  // The saved domain as Xen restores it: memory and VRAM placements as they were, no device
  // model (the old one is gone without tidying up).
  void lose_device_model() {
    ::kill(dm_pid(), SIGKILL);
    ASSERT_EQ(wait_dm_exit(5s), 128 + SIGKILL);
  }
  // A restore that must be refused: exit 1 before serving, the reason on stderr.
  void expect_refused(const std::vector<std::string>& extra, const std::string& reason,
                      bool default_vgpu = true) {
    const auto before = err().size();
    EXPECT_FALSE(start_dm(extra, default_vgpu));
    EXPECT_EQ(wait_dm_exit(10s), 1);
    const std::string said = err().substr(before);
    EXPECT_NE(said.find(reason), std::string::npos) << "wanted '" << reason << "' in: " << said;
    EXPECT_EQ(said.find("ready"), std::string::npos);
  }
  uint32_t seq_ = 0;
};

TEST_F(SaveRestore, MidEngineWorkEveryFieldComesBackNoJobLostOrRepeatedVramAdopted) {
  // A frame in VRAM at the BAR the guest placed it at, a knob changed, and 24 jobs of 1 MiB
  // queued just before the save: the engine is busy when save-state arrives.
  const auto frame = pattern(256 << 10, 7);
  guest_->write_ram(dom_, kBar0 + (4u << 20), frame);
  {
    control::Client c(control_path(), 5s);
    c.call({{"cmd", "knob-set"}, {"uuid", kUuid}, {"name", "engine_weight"}, {"value", "300"}});
  }
  constexpr uint64_t kSrc = 0x2000000;
  constexpr uint32_t kLen = 1u << 20;
  constexpr uint32_t kJobs = 24;
  guest_->write_ram(dom_, kSrc, pattern(8u << 20, 5));
  const uint32_t msis_before = static_cast<uint32_t>(guest_->msis(dom_).size());
  std::vector<Descriptor> jobs;
  for (uint32_t k = 0; k < kJobs; ++k) {
    jobs.push_back(to_vram(kSrc + uint64_t(k % 8) * kLen, (8u << 20) + uint64_t(k % 4) * kLen, kLen, ++seq_));
  }
  submit(jobs);
  const uint32_t fence_at_save_request = engine_read(kRegFence);
  const auto reply = save(state_path());
  EXPECT_LT(fence_at_save_request, seq_) << "the engine was already done: not mid-work";
  EXPECT_EQ(reply["vgpus"], 1);
  // Drained, not dropped: every queued job completed (with its MSI) before the state was taken.
  EXPECT_EQ(engine_read(kRegFence), seq_);
  ASSERT_TRUE(guest_->wait_msis(dom_, msis_before + kJobs, 5s));
  const auto saved = dm::decode_device_state(bytes_of(state_path()));
  ASSERT_EQ(saved.vgpus.size(), 1u);
  EXPECT_EQ(saved.vgpus[0].uuid, kUuid);
  EXPECT_EQ(saved.vgpus[0].type, "simgpu-16");
  ASSERT_EQ(saved.direct.regions.size(), 1u);
  EXPECT_EQ(saved.direct.regions[0].gfn, kBar0 >> 12) << "VRAM recorded where the guest placed it";

  const auto pages_before = guest_->status(dom_).info;
  lose_device_model();
  ASSERT_TRUE(start_dm({"--restore-state", state_path()})) << log();
  EXPECT_NE(log().find("vGPU " + std::string(kUuid) + " restored from"), std::string::npos);
  // Adopted: the domain holds no more pages and no higher maximum than before.
  const auto pages_after = guest_->status(dom_).info;
  EXPECT_EQ(pages_after.tot_pages, pages_before.tot_pages);
  EXPECT_EQ(pages_after.max_pages, pages_before.max_pages);

  // Every field: the restored device model saves exactly the state it was given.
  save(state_path("again.state"));
  EXPECT_TRUE(dm::decode_device_state(bytes_of(state_path("again.state"))) == saved)
      << "the restored state differs from the saved one";
  std::vector<std::byte> back(frame.size());
  guest_->read_ram(dom_, kBar0 + (4u << 20), back);
  EXPECT_TRUE(back == frame) << "the frame in VRAM did not come back at the BAR";
  EXPECT_EQ(engine_read(kRegFence), seq_);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(guest_->msis(dom_).size(), msis_before + kJobs) << "a job ran again after the restore";
  {
    control::Client c(control_path(), 5s);
    const auto k = c.call({{"cmd", "knob-get"}, {"uuid", kUuid}, {"name", "engine_weight"}})["knobs"];
    ASSERT_EQ(k.size(), 1u);
    EXPECT_EQ(k[0]["value"].dump(), "\"300\"") << k.dump();
  }
  // The engine goes on from the ring position it had, and its MSIs arrive as programmed.
  const auto msis = guest_->msis(dom_).size();
  expect_engine_round_trip(0x800000, 0xa00000, 64 << 10, seq_);
  ASSERT_TRUE(guest_->wait_msis(dom_, static_cast<uint32_t>(msis + 2), 5s));
  const auto last = guest_->msis(dom_).back();
  EXPECT_EQ(last.addr, kMsiAddr);
  EXPECT_EQ(last.data, kMsiData);
  ::kill(dm_pid(), SIGTERM);
  EXPECT_EQ(wait_dm_exit(5s), 0) << log();
}

TEST_F(SaveRestore, DamagedOrMismatchedStateIsRefusedWithItsReasonBeforeServing) {
  save(state_path());
  const auto good = bytes_of(state_path());
  lose_device_model();
  const std::string bad = state_path("bad.state");
  auto variant = [&](auto change) {
    auto b = good;
    change(b);
    write_bytes(bad, b);
    return std::vector<std::string>{"--restore-state", bad};
  };
  expect_refused(variant([](auto& b) { b[8] = 2; }),
                 "device state format 2 is not supported (this xvgpu-dm reads format 1)");
  expect_refused(variant([](auto& b) { b[0] = 'Y'; }), "not an xvgpu device state (no XVGPUDMS magic)");
  expect_refused(variant([](auto& b) { b.resize(b.size() / 2); }), "device state is truncated");
  expect_refused(variant([](auto& b) { b.resize(10); }), "shorter than its 20-byte header");
  expect_refused(variant([](auto& b) { b[b.size() / 2] ^= 0x10; }), "device state is corrupt: checksum");
  expect_refused(variant([](auto& b) { b.push_back(0); }), "1 bytes after its checksum");
  expect_refused({"--restore-state", state_path("missing.state")}, "No such file or directory");
  // The state of another vGPU, or of a device model with other memory, is not this one's.
  expect_refused(
      {"--vgpu", "uuid=fa017e57-0000-4000-8000-000000000002,type=simgpu-16", "--restore-state", state_path()},
      "saved vGPU 1 is fa017e57-0000-4000-8000-000000000001 of type simgpu-16", false);
  expect_refused({"--hot-add-room", "16M", "--restore-state", state_path()},
                 "same --vgpu list and --hot-add-room");
  // Nothing of that touched the domain: the good state still restores and the engine works.
  ASSERT_TRUE(start_dm({"--restore-state", state_path()})) << log();
  expect_engine_round_trip(0x800000, 0xa00000, 64 << 10, seq_);
  ::kill(dm_pid(), SIGTERM);
  EXPECT_EQ(wait_dm_exit(5s), 0) << log();
}

}  // namespace
}  // namespace xvgpu::faults
