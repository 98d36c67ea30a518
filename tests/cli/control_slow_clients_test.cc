// Slow control clients against the production xvgpu-dm on xensimd (the fault tests' world,
// tests/faults/dm_fixture.h): a client that asks for a screenshot (a reply of megabytes) and does
// not read it, or stops midway, delays no other client, is disconnected at the 2 s reply
// deadline with a log line naming its pid, and leaves no descriptor behind.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <barrier>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "dm/control_server.h"
#include "dm_fixture.h"

namespace xvgpu::faults {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint16_t kWidth = 1024;
constexpr uint16_t kHeight = 768;

class SlowControlClients : public DmFaults {
 protected:
  void SetUp() override {
    ASSERT_TRUE(start_dm()) << log();
    guest_->unpause(dom_);
    program_device();
    show_noise();
    take_baseline();
  }

  // The bochs driver's mode set (1024x768x32, bochs_hw_setmode) and a frame of noise, whose
  // PNG barely compresses: a screenshot reply of about 3 MiB, far beyond a socket's buffer.
  void show_noise() {
    auto dispi = [&](uint16_t index, uint16_t v) {
      guest_->mmio_write(dom_, VcpuId{0}, kBar2 + 0x500 + uint64_t{index} * 2, 2, v);
    };
    guest_->mmio_write(dom_, VcpuId{0}, kBar2 + 0x400 + 2, 1, 0x01);    // VGA misc output: colour
    (void)guest_->mmio_read(dom_, VcpuId{0}, kBar2 + 0x400 + 0x1a, 1);  // attribute flip-flop
    guest_->mmio_write(dom_, VcpuId{0}, kBar2 + 0x400, 1, 0x20);        // unblank
    dispi(0x4, 0);  // ENABLE off while the mode is written
    dispi(0x3, 32);
    dispi(0x1, kWidth);
    dispi(0x2, kHeight);
    dispi(0x5, 0);
    dispi(0x6, kWidth);
    dispi(0x7, kHeight);
    dispi(0x8, 0);
    dispi(0x9, 0);
    dispi(0x4, 0x01 | 0x40 | 0x80);  // ENABLED | LFB_ENABLED | NOCLEARMEM
    std::vector<std::byte> frame(size_t{kWidth} * kHeight * 4);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (auto& b : frame) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b = static_cast<std::byte>(x);
    }
    guest_->write_ram(dom_, kBar0, frame);
  }

  [[nodiscard]] nlohmann::json screenshot_request() const { return {{"cmd", "screenshot"}, {"uuid", kUuid}}; }
  static void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      s.remove_prefix(static_cast<size_t>(n));
    }
  }
  // True once the daemon closed the connection, seen without reading a byte of the reply.
  static bool hung_up(int fd, std::chrono::milliseconds limit) {
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, static_cast<int>(limit.count())) > 0 && (p.revents & (POLLHUP | POLLRDHUP)) != 0;
  }
  // Until the daemon started writing to fd (and, the reply being larger than the socket
  // buffer, got stuck).
  static bool reply_started(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10000) == 1;
  }
  static std::string read_some(int fd, size_t n) {
    std::string got;
    std::vector<char> buf(1 << 16);
    while (got.size() < n) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      const ssize_t r = ::recv(fd, buf.data(), std::min(buf.size(), n - got.size()), 0);
      if (r <= 0) break;
      got.append(buf.data(), static_cast<size_t>(r));
    }
    return got;
  }
  // What the log says about connections the daemon dropped.
  [[nodiscard]] size_t dropped_for_deadline() const {
    const std::string l = log();
    size_t n = 0;
    for (auto at = l.find("not read within"); at != std::string::npos; at = l.find("not read within", at + 1))
      ++n;
    return n;
  }
};

TEST_F(SlowControlClients, AScreenshotNobodyReadsDelaysNoOtherClient) {
  UniqueFd a = connect_raw();
  const auto asked = Clock::now();
  send_all(a.get(), control::encode_message(screenshot_request()));
  ASSERT_TRUE(reply_started(a.get())) << log();

  // B, meanwhile: status and stats, as xvgpuctl list and stats send them.
  const auto t0 = Clock::now();
  std::optional<control::Client> b(std::in_place, control_path(), 5s);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(b->call({{"cmd", "status"}})["vgpus"][0]["uuid"], kUuid);
    EXPECT_TRUE(b->call({{"cmd", "stats"}})["vgpus"][0]["counters"].is_object());
  }
  const auto b_took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  std::printf("[ figures ] 6 requests of B while A's screenshot reply is stuck: %lld ms\n",
              static_cast<long long>(b_took.count()));
  EXPECT_LT(b_took, 1000ms) << "a client not reading its screenshot holds up the others";
  EXPECT_FALSE(hung_up(a.get(), 0ms)) << "A was dropped before B was served: B's promptness proves nothing";
  EXPECT_EQ(dropped_for_deadline(), 0u);

  ASSERT_TRUE(hung_up(a.get(), 6s)) << "A still connected 6 s after its reply got stuck";
  const auto a_lasted = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
  std::printf("[ figures ] A disconnected %lld ms after its request\n",
              static_cast<long long>(a_lasted.count()));
  EXPECT_GE(a_lasted, control::kReplyDeadline);
  EXPECT_TRUE(eventually([&] { return dropped_for_deadline() == 1; }, 2s)) << log();
  EXPECT_NE(log().find("control connection from pid " + std::to_string(::getpid()) + " dropped: reply of"),
            std::string::npos)
      << log();
  a.reset();
  EXPECT_EQ(b->call({{"cmd", "status"}})["state"], "running");
  b.reset();
  expect_healthy_and_clean_exit();
}

TEST_F(SlowControlClients, AClientStoppingMidReplyIsDroppedAndTheOthersGetWholeScreenshots) {
  UniqueFd a = connect_raw();
  send_all(a.get(), control::encode_message(screenshot_request()));
  const std::string head = read_some(a.get(), 256u << 10);
  ASSERT_EQ(head.size(), 256u << 10);
  EXPECT_EQ(head.rfind(R"({"ok":true,"result":{)", 0), 0u) << head.substr(0, 80);
  // A stops reading; the guest keeps working, other clients are served in full meanwhile.
  EXPECT_EQ(guest_->pci_cfg_read(dom_, VcpuId{0}, kSbdf, 0, 4), 0x11111234u);
  const auto shot = control::Client(control_path(), 5s).call(screenshot_request());
  EXPECT_EQ(shot["width"], kWidth);
  EXPECT_EQ(shot["height"], kHeight);
  const std::string png = control::base64_decode(shot["png_base64"].get<std::string>());
  std::printf("[ figures ] screenshot reply: %zu bytes of PNG\n", png.size());
  EXPECT_GT(png.size(), 1u << 20) << "the frame compressed too well to test a stuck reply";
  EXPECT_FALSE(hung_up(a.get(), 0ms));
  ASSERT_TRUE(hung_up(a.get(), 6s));
  EXPECT_TRUE(eventually([&] { return log().find("bytes unsent") != std::string::npos; }, 2s)) << log();
  a.reset();
  expect_healthy_and_clean_exit();
}

TEST_F(SlowControlClients, EveryClientOfAFullHouseGetsItsOwnRepliesInOrder) {
  // The production limit of connections at once, each pipelining a small, a large and a small
  // request before reading anything.
  constexpr size_t kClients = control::kMaxControlClients;
  std::vector<UniqueFd> fds;
  for (size_t k = 0; k < kClients; ++k) fds.push_back(connect_raw());
  std::barrier go(static_cast<std::ptrdiff_t>(kClients));
  std::atomic<size_t> good{0};
  std::mutex mu;
  std::set<std::string> pngs;
  std::vector<std::thread> threads;
  for (size_t k = 0; k < kClients; ++k) {
    threads.emplace_back([&, k] {
      const int fd = fds[k].get();
      go.arrive_and_wait();
      send_all(fd, control::encode_message({{"cmd", "status"}}) +
                       control::encode_message(screenshot_request()) +
                       control::encode_message({{"cmd", "knob-get"}, {"uuid", kUuid}}));
      UniqueFd mine(::dup(fd));
      ::fcntl(mine.get(), F_SETFL, ::fcntl(mine.get(), F_GETFL) | O_NONBLOCK);  // read()'s deadline holds
      control::MessageStream s(std::move(mine));
      nlohmann::json r1, r2, r3;
      const bool read = s.read(r1, 20s) && s.read(r2, 20s) && s.read(r3, 20s);
      if (read && r1["result"]["vgpus"][0]["uuid"] == kUuid && r2["result"]["width"] == kWidth &&
          r3["result"]["knobs"].is_array()) {
        ++good;
        std::lock_guard lock(mu);
        pngs.insert(r2["result"]["png_base64"].get<std::string>());
      } else {
        ADD_FAILURE() << "client " << k << ": " << r1.dump().substr(0, 100) << " / "
                      << r2.dump().substr(0, 100) << " / " << r3.dump().substr(0, 100);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kClients);
  EXPECT_EQ(pngs.size(), 1u) << "the same frame gave different screenshots";
  EXPECT_EQ(log().find("dropped"), std::string::npos) << log();
  fds.clear();
  expect_healthy_and_clean_exit();
}

TEST_F(SlowControlClients, DescriptorsOfDroppedClientsAreClosedWhileTheyStillHoldTheirEnds) {
  // Eight clients (fewer than the log's burst of 10, so each drop is logged) ask for a
  // screenshot and never read; the test keeps its ends open, so only the daemon's own deadline
  // can give the descriptors back.
  std::vector<UniqueFd> bad;
  for (int k = 0; k < 8; ++k) {
    bad.push_back(connect_raw());
    send_all(bad.back().get(), control::encode_message(screenshot_request()));
  }
  for (const auto& fd : bad) ASSERT_TRUE(reply_started(fd.get())) << log();
  EXPECT_GT(count_fds(dm_pid()), base_fds_);
  const auto t0 = Clock::now();
  std::optional<control::Client> b(std::in_place, control_path(), 5s);
  EXPECT_EQ(b->call({{"cmd", "status"}})["state"], "running");
  EXPECT_LT(Clock::now() - t0, 1000ms);
  for (const auto& fd : bad) EXPECT_TRUE(hung_up(fd.get(), 8s));
  b->call({{"cmd", "status"}});
  // Only b's connection remains.
  EXPECT_TRUE(eventually([&] { return count_fds(dm_pid()) == base_fds_ + 1; }, 2s))
      << count_fds(dm_pid()) << " fds, baseline " << base_fds_ << " + 1";
  EXPECT_TRUE(eventually([&] { return dropped_for_deadline() == bad.size(); }, 2s)) << log();
  bad.clear();
  b.reset();
  expect_healthy_and_clean_exit();
}

}  // namespace
}  // namespace xvgpu::faults
