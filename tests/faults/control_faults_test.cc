// Hostile or broken control clients: the device model keeps serving the guest and every other
// client, and leaks no descriptor.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <nlohmann/json.hpp>

#include "dm_fixture.h"

namespace xvgpu::faults {
namespace {

class ControlFaults : public DmFaults {
 protected:
  void SetUp() override {
    ASSERT_TRUE(start_dm()) << log();
    guest_->unpause(dom_);
    program_device();
    take_baseline();
  }
  static void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the daemon hung up on us: fine, that is what some tests expect
      s.remove_prefix(static_cast<size_t>(n));
    }
  }
  // A well-behaved client's status request; returns how long it took.
  std::chrono::milliseconds timed_status() {
    const auto t0 = std::chrono::steady_clock::now();
    control::Client c(control_path(), 5s);
    const auto r = c.call({{"cmd", "status"}});
    EXPECT_EQ(r["vgpus"][0]["uuid"], kUuid) << r.dump();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  }
  bool serves_soon() {
    return eventually(
        [&] {
          try {
            return timed_status() < 1000ms;
          } catch (const std::exception&) {
            return false;
          }
        },
        3s);
  }
  // True once the daemon closed its end (a read returns EOF).
  static bool closed_by_peer(int fd, std::chrono::milliseconds limit) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    char buf[256];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }
};

TEST_F(ControlFaults, APartialRequestHeldOpenDoesNotDelayOtherClients) {
  UniqueFd slow = connect_raw();
  send_all(slow.get(), R"({"cmd":"sta)");
  std::this_thread::sleep_for(50ms);
  const auto took = timed_status();
  std::printf("[ figures ] status with a stalled client connected: %lld ms\n",
              static_cast<long long>(took.count()));
  EXPECT_LT(took, 500ms) << "one stalled client holds up the control server";
  // It finishes its request late, and gets its answer.
  send_all(slow.get(), "tus\"}\n");
  {
    control::MessageStream s(std::move(slow));
    nlohmann::json reply;
    ASSERT_TRUE(s.read(reply, 2s));
    EXPECT_TRUE(reply.value("ok", false)) << reply.dump();
  }
  EXPECT_EQ(guest_->pci_cfg_read(dom_, VcpuId{0}, kSbdf, 0, 4), 0x11111234u);
  expect_healthy_and_clean_exit();
}

TEST_F(ControlFaults, ClientsVanishingMidRequestAreForgotten) {
  for (int i = 0; i < 20; ++i) {
    UniqueFd a = connect_raw();
    send_all(a.get(), R"({"cmd":"screenshot","uuid":")" + std::string(kUuid) + "\"}\n");  // then gone
    UniqueFd b = connect_raw();
    send_all(b.get(), R"({"cmd":"stats")");  // half a request, then gone
  }
  // Connections beyond the 16 the daemon keeps are refused while the flood lasts; it serves
  // again as soon as it has seen the vanished ones go.
  EXPECT_TRUE(serves_soon());
  EXPECT_TRUE(eventually([&] { return count_fds(dm_pid()) == base_fds_; }, 2s))
      << count_fds(dm_pid()) << " fds, baseline " << base_fds_;
  expect_healthy_and_clean_exit();
}

TEST_F(ControlFaults, AnOversizedRequestIsCutOffWithALogLine) {
  UniqueFd big = connect_raw();
  const std::string chunk(1 << 16, 'x');
  // Without a newline: the daemon must stop buffering long before the 64 MiB reply limit.
  for (int i = 0; i < 64 && !closed_by_peer(big.get(), 0ms); ++i) send_all(big.get(), chunk);
  EXPECT_TRUE(closed_by_peer(big.get(), 2s)) << "the daemon kept buffering a 4 MiB request";
  EXPECT_TRUE(eventually([&] { return log().find("control request too large") != std::string::npos; }, 2s))
      << log();
  EXPECT_LT(timed_status(), 500ms);
  expect_healthy_and_clean_exit();
}

TEST_F(ControlFaults, GarbageAndMalformedRequestsAreAnsweredOrDropped) {
  {
    control::Client c(control_path(), 2s);
    try {
      c.call({{"cmd", 42}});
      ADD_FAILURE() << "a numeric command was accepted";
    } catch (const control::ControlError& e) {
      EXPECT_EQ(e.code(), "bad-request") << e.what();
    }
    try {
      c.call({{"cmd", "hot-add"}, {"spec", std::string(100000, ',')}});
      ADD_FAILURE() << "a nonsense spec was accepted";
    } catch (const control::ControlError& e) {
      EXPECT_NE(e.code(), "transport") << e.what();
    }
  }
  UniqueFd raw = connect_raw();
  send_all(raw.get(), std::string("\x01\xff{{{not json\n", 15));
  EXPECT_TRUE(closed_by_peer(raw.get(), 2s));
  EXPECT_TRUE(eventually([&] { return log().find("malformed JSON") != std::string::npos; }, 2s)) << log();
  EXPECT_LT(timed_status(), 500ms);
  expect_healthy_and_clean_exit();
}

TEST_F(ControlFaults, TooManyConnectionsAreRefusedAndServingResumes) {
  std::vector<UniqueFd> hogs;
  for (int i = 0; i < 24; ++i) hogs.push_back(connect_raw());
  EXPECT_TRUE(eventually([&] { return log().find("too many connections") != std::string::npos; }, 2s))
      << log();
  hogs.clear();
  EXPECT_TRUE(serves_soon());
  EXPECT_TRUE(eventually([&] { return count_fds(dm_pid()) == base_fds_; }, 2s));
  expect_healthy_and_clean_exit();
}

}  // namespace
}  // namespace xvgpu::faults
