// The fault tests' world: one xensimd, one domain, the production xvgpu-dm (run on xensim's
// libraries, as shipped) serving it, and a simulated guest driving a simgpu vGPU. Each test
// injects one fault and ends with the same checks: no crash, no hung vCPU, a clear log line,
// nothing leaked (mappings, fds, host-wide reservations).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "control/control_protocol.h"
#include "simgpu/descriptors.h"
#include "simgpu/guest_layout.h"
#include "support/child_process.h"
#include "vendor/simgpu/engine_interface.h"
#include "xensim/guest.h"
#include "xensim/transport.h"

namespace xvgpu::faults {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using simgpu::test::kBar0;
using simgpu::test::kBar2;
using simgpu::test::kBar4;
using simgpu::test::kSbdf;
inline constexpr uint64_t kMsiAddr = 0xfee00000;
inline constexpr uint32_t kMsiData = 0x0051;
inline constexpr uint64_t kRing = 0x100000;  // engine ring in guest RAM (own 1 MiB map-cache bucket)
inline constexpr uint32_t kRingSize = 64;
inline constexpr uint32_t kVramBytes = 16u << 20;  // simgpu-16
inline constexpr const char* kUuid = "fa017e57-0000-4000-8000-000000000001";

using test::ChildOptions;
using test::ChildProcess;
using test::Output;

inline int count_fds(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// Running (an exited child not yet reaped is a zombie: not alive).
inline bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  const std::string stat = [&] {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(f, line);
    return line;
  }();
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

template <typename Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class DmFaults : public ::testing::Test {
 protected:
  DmFaults() {
    char tmpl[] = "/tmp/xvgpu-faults.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::chmod(dir_.c_str(), 0755);  // --runas users must reach the pidfile's and sockets' folder
    socket_ = (dir_ / "xensim.sock").string();
    daemon_.emplace(std::vector<std::string>{XENSIMD_PATH, "--socket", socket_, "--hang-timeout-ms", "1000"});
    for (int i = 0; i < 500 && !xensim::connect_socket(socket_); ++i) std::this_thread::sleep_for(10ms);
    guest_.emplace(xensim::Guest::connect(socket_));
    fs::create_directories(dir_ / "state");
    dom_ = guest_->create_domain({.vcpus = 2, .ram_mib = 64, .start_paused = true});
  }
  ~DmFaults() override {
    dm_.reset();
    try {
      guest_->shutdown_daemon();
    } catch (...) {
    }
    guest_.reset();
    EXPECT_TRUE(daemon_->wait_for(10s).has_value()) << "xensimd did not exit when told to";
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  [[nodiscard]] fs::path log_path() const { return dir_ / "dm.log"; }
  [[nodiscard]] std::string log() const { return read_file(log_path()); }
  // What xvgpu-dm wrote to stderr (the seccomp handler's lines, a set-up failure's one line).
  [[nodiscard]] std::string err() const { return read_file(dir_ / "dm.stderr"); }
  [[nodiscard]] std::string control_path() const { return (dir_ / "dm.sock").string(); }
  [[nodiscard]] fs::path pidfile() const { return dir_ / "dm.pid"; }
  // A bare connection to the device model's control socket (hostile and slow clients).
  UniqueFd connect_raw() const {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, control_path().c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a), 0)
        << std::strerror(errno);
    return fd;
  }

  std::vector<std::string> dm_env() const {
    // In a sanitizer build, LeakSanitizer's exit-time check stops the world with ptrace and a
    // non-thread clone, which the seccomp filter forbids (the exit would be SIGSYS, not 0): leak
    // checking of the device model is left to the in-process tests.
    const char* asan = std::getenv("ASAN_OPTIONS");
    return {
        "LD_LIBRARY_PATH=" XENSIM_LIBDIR, "XENSIM_SOCKET=" + socket_,
        "XVGPU_STATE_DIR=" + (dir_ / "state").string(),
        std::string("ASAN_OPTIONS=") + (asan != nullptr ? std::string(asan) + ":" : "") + "detect_leaks=0"};
  }
  std::vector<std::string> dm_argv(const std::vector<std::string>& extra) const {
    std::vector<std::string> a{XVGPU_DM_PATH,      "--domain",     std::to_string(dom_.value),
                               "--control-socket", control_path(), "--pidfile",
                               pidfile().string(), "--log-file",   log_path().string(),
                               "--xenstore-node",  "none"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Starts xvgpu-dm and waits until it is ready (pidfile written). Default: one simgpu-16.
  bool start_dm(std::vector<std::string> extra = {}, bool default_vgpu = true) {
    if (default_vgpu) {
      extra.insert(extra.begin(), {"--vgpu", std::string("uuid=") + kUuid + ",type=simgpu-16"});
    }
    std::error_code ec;
    fs::remove(pidfile(), ec);
    ChildOptions o;
    o.env = dm_env();
    o.err = Output::file((dir_ / "dm.stderr").string(), /*append=*/true);
    dm_ = std::make_unique<ChildProcess>(dm_argv(extra), o);
    // The pidfile is written before privileges are dropped; "ready:" is logged once serving.
    auto readies = [&] {
      const std::string l = log();
      size_t n = 0;
      for (auto at = l.find("ready: control socket"); at != std::string::npos;
           at = l.find("ready: control socket", at + 1))
        ++n;
      return n;
    };
    const size_t before = readies();
    auto is_ready = [&] { return fs::exists(pidfile()) && readies() > before; };
    eventually([&] { return is_ready() || !alive(dm_->pid()); }, 10s);
    return is_ready() && alive(dm_->pid());
  }
  [[nodiscard]] pid_t dm_pid() const { return dm_->pid(); }

  // Waits for the device model to exit; its exit status (128 + signal if killed), -1 on timeout.
  int wait_dm_exit(std::chrono::milliseconds limit) {
    const auto st = dm_->wait_for(limit);
    return st ? st->shell_code() : -1;
  }

  // True once xensim no longer knows the domain: a destroyed domain stays dying while anyone
  // still maps its memory, so this is also "the device model released every mapping".
  bool domain_gone_within(std::chrono::milliseconds limit) {
    return eventually(
        [&] {
          try {
            guest_->status(dom_);
            return false;
          } catch (const SystemError& e) {
            return e.err() == ESRCH;
          }
        },
        limit);
  }

  [[nodiscard]] size_t reservations() const {
    size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir_ / "state" / "reservations", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
      ++n;
    }
    return n;
  }

  // ---- the guest's side ----
  uint32_t cfg_read(uint16_t reg, uint32_t size, Sbdf s = kSbdf) {
    return guest_->pci_cfg_read(dom_, VcpuId{0}, s, reg, size);
  }
  void cfg_write(uint16_t reg, uint32_t size, uint32_t v, Sbdf s = kSbdf) {
    guest_->pci_cfg_write(dom_, VcpuId{0}, s, reg, size, v);
  }
  uint32_t engine_read(uint32_t reg, VcpuId v = VcpuId{0}) {
    return static_cast<uint32_t>(guest_->mmio_read(dom_, v, kBar4 + reg, 4));
  }
  void engine_write(uint32_t reg, uint32_t value) {
    guest_->mmio_write(dom_, VcpuId{0}, kBar4 + reg, 4, value);
  }

  // The usual start: device model up, guest running, device programmed, one engine round trip
  // (its sequence number from `seq`). Call it with ASSERT_NO_FATAL_FAILURE.
  void start_with_engine_round_trip(uint32_t& seq) {
    ASSERT_TRUE(start_dm()) << log();
    guest_->unpause(dom_);
    program_device();
    expect_engine_round_trip(0x800000, 0xa00000, 64 << 10, seq);
  }
  // The MSI capability programmed with kMsiAddr / kMsiData and enabled.
  void enable_msi() {
    for (unsigned cap = cfg_read(0x34, 1); cap != 0; cap = cfg_read(static_cast<uint16_t>(cap + 1), 1)) {
      if (cfg_read(static_cast<uint16_t>(cap), 1) != 0x05) continue;
      cfg_write(static_cast<uint16_t>(cap + 4), 4, static_cast<uint32_t>(kMsiAddr));
      cfg_write(static_cast<uint16_t>(cap + 8), 4, 0);
      cfg_write(static_cast<uint16_t>(cap + 12), 2, kMsiData);
      cfg_write(static_cast<uint16_t>(cap + 2), 2, cfg_read(static_cast<uint16_t>(cap + 2), 2) | 1);
    }
  }
  // What firmware and the driver do: BARs, decode, MSI, then the engine's ring.
  void program_device() {
    for (const auto& [bar, addr] : {std::pair{0u, kBar0}, {2u, kBar2}, {4u, kBar4}}) {
      cfg_write(static_cast<uint16_t>(0x10 + bar * 4), 4, static_cast<uint32_t>(addr));
    }
    cfg_write(0x04, 2, 0x0006);
    enable_msi();
    using namespace simgpu::engine;
    engine_write(kRegControl, kControlReset);
    engine_write(kRegRingBaseLo, static_cast<uint32_t>(kRing));
    engine_write(kRegRingBaseHi, 0);
    engine_write(kRegRingSize, kRingSize);
    engine_write(kRegIrqMask, kIrqCompletion | kIrqError);
    engine_write(kRegControl, kControlEnable);
    tail_ = 0;
  }

  // Queues descriptors and rings the doorbell once.
  void submit(const std::vector<simgpu::engine::Descriptor>& descs) {
    for (const auto& d : descs) {
      guest_->write_ram(dom_, kRing + uint64_t{tail_} * simgpu::engine::kDescriptorSize,
                        std::as_bytes(std::span(&d, 1)));
      tail_ = (tail_ + 1) % kRingSize;
    }
    engine_write(simgpu::engine::kRegDoorbell, tail_);
  }
  // Until FENCE shows seq (every descriptor before it completed or was rejected).
  bool wait_fence(uint32_t seq, std::chrono::milliseconds limit = 5000ms) {
    return eventually([&] { return engine_read(simgpu::engine::kRegFence) == seq; }, limit);
  }
  static simgpu::engine::Descriptor to_vram(uint64_t gpa, uint64_t vram, uint32_t len, uint32_t seq) {
    return simgpu::test::linear_copy(simgpu::engine::kOpCopyToVram, gpa, vram, len, seq, true);
  }
  static simgpu::engine::Descriptor from_vram(uint64_t vram, uint64_t gpa, uint32_t len, uint32_t seq) {
    return simgpu::test::linear_copy(simgpu::engine::kOpCopyFromVram, vram, gpa, len, seq, true);
  }
  static std::vector<std::byte> pattern(size_t n, unsigned salt) {
    std::vector<std::byte> v(n);
    for (size_t k = 0; k < n; ++k) v[k] = static_cast<std::byte>((k * 131 + salt) >> 3 ^ salt);
    return v;
  }
  // A guest round trip through the engine: pattern -> VRAM -> another guest buffer, compared.
  void expect_engine_round_trip(uint64_t src, uint64_t dst, uint32_t len, uint32_t& seq) {
    const auto data = pattern(len, seq);
    guest_->write_ram(dom_, src, data);
    std::vector<std::byte> zero(len);
    guest_->write_ram(dom_, dst, zero);
    const uint32_t errors = engine_read(simgpu::engine::kRegErrorCount);
    submit({to_vram(src, 0x100000, len, seq + 1), from_vram(0x100000, dst, len, seq + 2)});
    seq += 2;
    ASSERT_TRUE(wait_fence(seq)) << "fence " << engine_read(simgpu::engine::kRegFence) << " wanted " << seq;
    EXPECT_EQ(engine_read(simgpu::engine::kRegErrorCount), errors) << "the round trip was rejected";
    std::vector<std::byte> back(len);
    guest_->read_ram(dom_, dst, back);
    EXPECT_TRUE(back == data) << "engine round trip data differs";
  }

  // Drops every unpinned cached guest mapping (an INVALIDATE, as Xen sends after the guest gives
  // memory back) so that the domain's mapping count shows only what the device model holds.
  void flush_map_cache() {
    ASSERT_EQ(guest_->remove_memory(dom_, VcpuId{1}, Gfn{spare_gfn_++}, 1), xensim::AccessStatus::ok);
  }
  // Baseline after set-up: mappings the device model holds for good, and its open fds.
  void take_baseline() {
    flush_map_cache();
    base_mappings_ = guest_->status(dom_).info.mappings;
    base_fds_ = count_fds(dm_pid());
  }
  // No crash, no hung vCPU, nothing leaked while it runs; then SIGTERM: clean exit, reservation gone.
  void expect_healthy_and_clean_exit() {
    auto st = guest_->status(dom_);
    EXPECT_TRUE(st.crash_reason.empty()) << st.crash_reason;
    EXPECT_TRUE(st.hung.empty()) << st.hung.size() << " hung vCPU(s)";
    EXPECT_EQ(st.hung_reports, 0u);
    ASSERT_TRUE(alive(dm_pid())) << "xvgpu-dm died:\n" << log();
    flush_map_cache();
    EXPECT_EQ(guest_->status(dom_).info.mappings, base_mappings_) << "foreign mappings leaked";
    // Connections the test's clients just closed are closed by the daemon asynchronously.
    EXPECT_TRUE(eventually([&] { return count_fds(dm_pid()) == base_fds_; }, 2s))
        << "file descriptors leaked: " << count_fds(dm_pid()) << ", baseline " << base_fds_;
    EXPECT_EQ(reservations(), 1u);
    ::kill(dm_pid(), SIGTERM);
    EXPECT_EQ(wait_dm_exit(5s), 0) << log();
    EXPECT_NE(log().find("torn down"), std::string::npos);
    EXPECT_EQ(reservations(), 0u) << "host-wide reservation left behind";
    EXPECT_EQ(guest_->status(dom_).info.mappings, 0u);
  }

  fs::path dir_;
  std::string socket_;
  std::optional<ChildProcess> daemon_;
  std::optional<xensim::Guest> guest_;
  Domid dom_{};
  std::unique_ptr<ChildProcess> dm_;
  uint32_t tail_ = 0;
  uint64_t spare_gfn_ = 0x3f00;  // pages near the end of RAM the tests give back one at a time
  uint64_t base_mappings_ = 0;
  int base_fds_ = 0;
};

}  // namespace xvgpu::faults
