// Least privilege of the real xvgpu-dm process serving a guest on xensim: --runas and --chroot
// (checked in /proc/<pid>/status and /proc/<pid>/root), its resource limits
// (/proc/<pid>/limits), and the seccomp filter against a forbidden call made by vendor code in
// the process (faulty_plugin.c's FORBIDDEN register), per --seccomp mode. Changing user needs
// root: without it those tests skip, saying so.
#include <future>

#include "dm_fixture.h"

namespace xvgpu::faults {
namespace {

constexpr uint64_t kRegs = 0xfeb00000;

std::string status_field(const std::string& status, const std::string& key) {
  const auto at = status.find("\n" + key + ":");
  if (at == std::string::npos) return "?";
  const auto start = status.find_first_not_of(" \t", at + key.size() + 2);
  return status.substr(start, status.find('\n', start) - start);
}

class LeastPrivilege : public DmFaults {
 protected:
  [[nodiscard]] std::string proc(const char* what) const {
    return read_file("/proc/" + std::to_string(dm_pid()) + "/" + what);
  }
  bool start_faulty(const std::string& seccomp) {
    return start_dm({"--vendor-plugin", FAULTY_PLUGIN_PATH, "--seccomp", seccomp, "--vgpu",
                     std::string("uuid=") + kUuid + ",type=faulty"},
                    false);
  }
  void program_faulty() {
    cfg_write(0x10, 4, static_cast<uint32_t>(kRegs));
    cfg_write(0x04, 2, 0x0006);
  }
  std::future<xensim::AccessResult> forbidden(uint32_t what) {
    return std::async(std::launch::async, [this, what] {
      xensim::Access a;
      a.space = xensim::Space::mmio;
      a.dir = 0;  // IOREQ_WRITE
      a.addr = kRegs + 0x14;
      a.size = 4;
      a.data = what;
      return guest_->access(dom_, VcpuId{0}, a);
    });
  }
};

TEST_F(LeastPrivilege, RunasAndChrootLeaveTheServingProcessWithoutRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "--runas needs root (running as uid " << ::geteuid() << ")";
  const fs::path root = dir_ / "empty-root";
  fs::create_directories(root);
  ASSERT_TRUE(start_dm({"--runas", "nobody", "--chroot", root.string()})) << log() << err();
  const std::string st = proc("status");
  EXPECT_EQ(status_field(st, "Uid"), "65534\t65534\t65534\t65534") << st;
  EXPECT_EQ(status_field(st, "Gid"), "65534\t65534\t65534\t65534") << st;
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(status_field(st, cap), "0000000000000000") << cap;
  }
  EXPECT_EQ(status_field(st, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(st, "Seccomp"), "2") << "filter mode";
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(dm_pid()) + "/root"), root);
  EXPECT_NE(log().find("privileges: uid 65534 gid 65534, chroot " + root.string()), std::string::npos)
      << log();
  // Still serving: config space, trapped registers, DMA, INVALIDATE.
  guest_->unpause(dom_);
  program_device();
  uint32_t seq = 0;
  expect_engine_round_trip(0x800000, 0xa00000, 64 << 10, seq);
  flush_map_cache();
  EXPECT_TRUE(guest_->status(dom_).hung.empty());
  ::kill(dm_pid(), SIGTERM);
  EXPECT_EQ(wait_dm_exit(5s), 0) << log();
  EXPECT_NE(log().find("torn down"), std::string::npos);
  // Outside its chroot it could not remove its reservation file, but the file is no longer
  // held: the next instance for the same vGPU recovers it.
  ASSERT_TRUE(start_dm()) << log();
  EXPECT_EQ(reservations(), 1u);
}

TEST_F(LeastPrivilege, ResourceLimitsAreSetOnTheServingProcess) {
  ASSERT_TRUE(start_dm()) << log();
  const std::string limits = proc("limits");
  auto line = [&](const std::string& name) {
    const auto at = limits.find(name);
    return at == std::string::npos ? std::string("?") : limits.substr(at, limits.find('\n', at) - at);
  };
  // "Max core file size        0                    0                    bytes"
  auto soft_hard = [&](const std::string& name) {
    std::istringstream in(line(name).substr(name.size()));
    std::string soft, hard;
    in >> soft >> hard;
    return soft + " " + hard;
  };
  EXPECT_EQ(soft_hard("Max core file size"), "0 0") << limits;
  EXPECT_EQ(soft_hard("Max open files"), "1024 1024") << limits;
  EXPECT_EQ(soft_hard("Max msgqueue size"), "0 0") << limits;
  EXPECT_EQ(soft_hard("Max realtime priority"), "0 0") << limits;
  guest_->unpause(dom_);
  program_device();
  uint32_t seq = 0;
  expect_engine_round_trip(0x800000, 0xa00000, 64 << 10, seq);
  take_baseline();
  expect_healthy_and_clean_exit();
}

TEST_F(LeastPrivilege, SeccompKillModeKillsADeviceModelThatOpensANetworkSocket) {
  ASSERT_TRUE(start_faulty("kill")) << log() << err();
  guest_->unpause(dom_);
  program_faulty();
  auto vcpu = forbidden(1);  // vendor code in the device model calls socket(AF_INET)
  EXPECT_EQ(wait_dm_exit(5s), 128 + SIGSYS) << log() << err();
  // The vCPU waits for an answer that will never come (no device model): the domain goes.
  guest_->destroy_domain(dom_);
  EXPECT_EQ(vcpu.get().status, xensim::AccessStatus::destroyed);
}

TEST_F(LeastPrivilege, SeccompLogModeRefusesForbiddenCallsWithEpermAndALogLine) {
  ASSERT_TRUE(start_faulty("log")) << log() << err();
  guest_->unpause(dom_);
  program_faulty();
  take_baseline();
  for (uint32_t what : {1u, 2u, 3u}) {
    EXPECT_EQ(forbidden(what).get().status, xensim::AccessStatus::ok);
    EXPECT_EQ(guest_->mmio_read(dom_, VcpuId{0}, kRegs + 0x14, 4), static_cast<uint64_t>(EPERM)) << what;
  }
  const std::string e = err();
  for (long nr : {41L /* socket */, 16L /* ioctl */, 59L /* execve */}) {
    EXPECT_NE(e.find("seccomp refused syscall " + std::to_string(nr) + " with EPERM"), std::string::npos)
        << nr << "\n"
        << e;
  }
  expect_healthy_and_clean_exit();
}

}  // namespace
}  // namespace xvgpu::faults
