// A live VncConsole (a simgpu-16 vGPU on the fake platform, its head off: a black 640x480 frame)
// against RFB clients written here that change their pixel format while the console is sending
// them a framebuffer update. An invalid format must cost only its own client; valid changes, as
// fast as a client can send them, must be served without harm; and another viewer keeps getting
// complete frames throughout, held up at most once and briefly by a viewer that stops reading.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "control/console_address.h"
#include "dm/console/vnc_console.h"
#include "gpu/vgpu_manager.h"
#include "support/fake_platform.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::dm {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kWidth = 640;  // the console's size while no surface is shown
constexpr uint16_t kHeight = 480;

// 32 bpp, depth 24, little endian, true colour, R at bit 16, G at 8, B at 0.
constexpr std::array<uint8_t, 16> kFormat32 = {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};
// 8 bpp true colour, BGR233.
constexpr std::array<uint8_t, 16> kFormat8 = {8, 8, 0, 1, 0, 7, 0, 7, 0, 3, 0, 3, 6, 0, 0, 0};
// Bits per pixel 0: no such format.
constexpr std::array<uint8_t, 16> kFormat0 = {0, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};

std::vector<uint8_t> set_pixel_format(const std::array<uint8_t, 16>& f) {
  std::vector<uint8_t> m(4 + f.size(), 0);  // type 0, 3 bytes of padding, the format
  std::copy(f.begin(), f.end(), m.begin() + 4);
  return m;
}

std::vector<uint8_t> update_request(bool incremental) {
  return {
      3, uint8_t(incremental ? 1 : 0), 0, 0, 0, 0, kWidth >> 8, kWidth & 0xff, kHeight >> 8, kHeight & 0xff};
}

// One RFB 3.8 viewer on TCP (security None, shared), blocking with a 10 s timeout.
class Viewer {
 public:
  explicit Viewer(uint16_t port) {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    std::array<uint8_t, 24> init{};
    ok_ = read(12).starts_with("RFB 003.") && send_text("RFB 003.008\n") &&
          read(2) == std::string("\x01\x01", 2) && send({1}) && read(4) == std::string(4, '\0') &&
          send({1}) && read_into(init.data(), init.size());
    if (!ok_) return;
    const uint32_t name_len =
        (uint32_t{init[20]} << 24) | (uint32_t{init[21]} << 16) | (init[22] << 8) | init[23];
    ok_ = name_len < 256 && read(name_len).size() == name_len;
    width_ = static_cast<uint16_t>((init[0] << 8) | init[1]);
    height_ = static_cast<uint16_t>((init[2] << 8) | init[3]);
  }
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] int fd() const { return fd_.get(); }

  bool send(const std::vector<uint8_t>& bytes) const {
    return ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  bool send_text(const std::string& s) const { return send({s.begin(), s.end()}); }

  bool read_into(uint8_t* out, size_t n) const {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::recv(fd_.get(), out + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  std::string read(size_t n) const {
    std::string s(n, '\0');
    return read_into(reinterpret_cast<uint8_t*>(s.data()), n) ? s : std::string();
  }

  // Asks for the whole screen in 32 bpp raw and reads updates until one covers it; false when
  // the console closes, times out or sends what a raw 32 bpp stream cannot hold.
  bool full_frame() const {
    if (!send(set_pixel_format(kFormat32)) || !send({2, 0, 0, 1, 0, 0, 0, 0}) || !send(update_request(false)))
      return false;
    for (int updates = 0; updates < 20; ++updates) {
      std::array<uint8_t, 4> head{};
      if (!read_into(head.data(), head.size()) || head[0] != 0) return false;
      uint64_t covered = 0;
      for (unsigned n = (head[2] << 8) | head[3]; n > 0; --n) {
        std::array<uint8_t, 12> r{};
        if (!read_into(r.data(), r.size())) return false;
        const unsigned w = (r[4] << 8) | r[5];
        const unsigned h = (r[6] << 8) | r[7];
        if (r[8] != 0 || r[9] != 0 || r[10] != 0 || r[11] != 0) return false;  // raw only
        std::vector<uint8_t> pixels(size_t{w} * h * 4);
        if (!read_into(pixels.data(), pixels.size())) return false;
        covered += uint64_t{w} * h;
      }
      if (covered >= uint64_t{width_} * height_) return true;
    }
    return false;
  }

  // True when the console closes the connection within `limit` (what it sends is discarded).
  bool closed_within(std::chrono::milliseconds limit) const {
    const auto end = std::chrono::steady_clock::now() + limit;
    std::vector<uint8_t> sink(1 << 16);
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t r = ::recv(fd_.get(), sink.data(), sink.size(), MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) return true;
    }
    return false;
  }

 private:
  UniqueFd fd_;
  bool ok_ = false;
  uint16_t width_ = 0;
  uint16_t height_ = 0;
};

class LiveConsole : public ::testing::Test {
 protected:
  void SetUp() override {
    state_dir_ = std::filesystem::temp_directory_path() / ("vnc-console-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(state_dir_);
    const int rc = xvgpu_simgpu_register_builtin();
    ASSERT_TRUE(rc == 0 || rc == -EEXIST);
    manager_ = std::make_unique<gpu::VgpuManager>(gpu::ManagerOptions{state_dir_});
    manager_->load_builtin_vendors();
    gpu::VgpuConfig cfg;
    cfg.uuid = "6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f";
    cfg.type = "simgpu-16";
    vgpu_ = manager_->create_vgpu(cfg, platform_.platform());
    ConsoleOptions o;
    o.address = ConsoleAddress::parse("127.0.0.1:0");
    console_ = std::make_unique<VncConsole>(vgpu_, o);
    const std::string where = console_->where();
    port_ = static_cast<uint16_t>(std::stoi(where.substr(where.rfind(':') + 1)));
  }
  void TearDown() override {
    console_.reset();
    vgpu_.reset();
    manager_.reset();
    std::filesystem::remove_all(state_dir_);
  }
  // Waits (bounded) until the console counts `n` clients.
  bool clients_now(unsigned n) const {
    for (int i = 0; i < 500; ++i) {
      if (console_->counters().clients_now == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::filesystem::path state_dir_;
  test::FakePlatform platform_;
  std::unique_ptr<gpu::VgpuManager> manager_;
  std::shared_ptr<gpu::Vgpu> vgpu_;
  std::unique_ptr<VncConsole> console_;
  uint16_t port_ = 0;
};

TEST_F(LiveConsole, InvalidPixelFormatDuringAnUpdateDropsOnlyThatClient) {
  const Viewer watcher(port_);
  ASSERT_TRUE(watcher.ok());
  ASSERT_TRUE(watcher.full_frame());
  constexpr int kRounds = 40;
  int closed = 0;
  for (int i = 0; i < kRounds; ++i) {
    const Viewer bad(port_);
    ASSERT_TRUE(bad.ok()) << "round " << i;
    // A full raw frame requested, then at once a format no encoder can use.
    ASSERT_TRUE(bad.send(update_request(false)));
    ASSERT_TRUE(bad.send(set_pixel_format(kFormat0)));
    if (bad.closed_within(5s)) ++closed;
  }
  EXPECT_EQ(closed, kRounds) << "each client with bits-per-pixel 0 is dropped";
  EXPECT_TRUE(watcher.full_frame()) << "the other viewer is still served";
  EXPECT_TRUE(clients_now(1));
}

TEST_F(LiveConsole, PixelFormatChangesDuringUpdatesAreServed) {
  const Viewer watcher(port_);
  ASSERT_TRUE(watcher.ok());
  const Viewer flipper(port_);
  ASSERT_TRUE(flipper.ok());
  // The flipper's updates are read (and discarded) as fast as they come.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> received{0};
  std::thread drain([&] {
    std::vector<uint8_t> sink(1 << 16);
    while (!stop.load()) {
      pollfd p{flipper.fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t r = ::recv(flipper.fd(), sink.data(), sink.size(), MSG_DONTWAIT);
      if (r == 0) return;
      if (r > 0) received += static_cast<uint64_t>(r);
    }
  });
  bool sent = true;
  for (int i = 0; i < 400 && sent; ++i) {
    sent = flipper.send(set_pixel_format(i % 2 == 0 ? kFormat32 : kFormat8)) &&
           flipper.send(update_request(false));
  }
  EXPECT_TRUE(sent) << "the console kept reading a client whose formats are all valid";
  EXPECT_TRUE(watcher.full_frame()) << "the other viewer is served meanwhile";
  std::this_thread::sleep_for(200ms);
  stop = true;
  drain.join();
  // At least one full frame in the smaller format reached the flipper.
  EXPECT_GE(received.load(), uint64_t{kWidth} * kHeight);
  EXPECT_TRUE(clients_now(2)) << "both viewers are still connected";
}

TEST_F(LiveConsole, AViewerThatStopsReadingHoldsTheOthersUpOnceAndBriefly) {
  const Viewer watcher(port_);
  ASSERT_TRUE(watcher.ok());
  const Viewer stuck(port_);
  ASSERT_TRUE(stuck.ok());
  int small = 4096;  // a small receive buffer fills after a frame's first rows
  ASSERT_EQ(::setsockopt(stuck.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  ASSERT_TRUE(stuck.send(set_pixel_format(kFormat32)));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(stuck.send(update_request(false)));  // and reads nothing
  auto slowest = std::chrono::steady_clock::duration{};
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(watcher.full_frame()) << "frame " << i;
    slowest = std::max(slowest, std::chrono::steady_clock::now() - t0);
  }
  EXPECT_LT(slowest, 2500ms) << "one stall of at most 1 s (ClientWatchdog), then frames as usual";
  // Its end of the connection still has megabytes queued to read: the console's count tells.
  EXPECT_TRUE(clients_now(1)) << "the stuck viewer was cut off";
  EXPECT_EQ(console_->counters().cut, 1u);
}

}  // namespace
}  // namespace xvgpu::dm
