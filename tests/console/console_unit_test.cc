// The console's pieces without a server: the address syntax (and the spec keys carrying it), the
// client policy's verdicts, the copy from scan-out formats into the framebuffer, the wait for
// a new connection's first bytes, and the watchdog over each call on a client.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "control/console_address.h"
#include "control/vgpu_spec.h"
#include "dm/console/client_policy.h"
#include "dm/console/client_watchdog.h"
#include "dm/console/frame_copy.h"
#include "dm/console/opening_wait.h"
#include "dm/pixel_format.h"

namespace xvgpu::dm {
namespace {

using namespace std::chrono_literals;

TEST(ConsoleAddress, ParsesEachForm) {
  const ConsoleAddress d;
  EXPECT_EQ(d.to_string(), "127.0.0.1:0") << "the default is loopback on a free port";
  auto a = ConsoleAddress::parse("0.0.0.0:5901");
  EXPECT_EQ(a.kind, ConsoleAddress::Kind::Tcp);
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 5901);
  a = ConsoleAddress::parse("[::1]:0");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.to_string(), "[::1]:0");
  a = ConsoleAddress::parse("unix:/run/xvgpu/c.sock");
  EXPECT_EQ(a.kind, ConsoleAddress::Kind::Unix);
  EXPECT_EQ(a.path, "/run/xvgpu/c.sock");
  EXPECT_EQ(ConsoleAddress::parse("off").kind, ConsoleAddress::Kind::Off);
  for (const char* t : {"127.0.0.1:5901", "[::1]:0", "unix:/x", "off"}) {
    EXPECT_EQ(ConsoleAddress::parse(t).to_string(), t);
  }
}

TEST(ConsoleAddress, RefusesWhatIsNotAnAddressNamingTheProblem) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"localhost:5900", "not a numeric IPv4 address"},
      {"::1:5900", "not a numeric IPv4 address"},
      {"127.0.0.1:65536", "port '65536'"},
      {"127.0.0.1:", "port ''"},
      {"127.0.0.1:59x", "port '59x'"},
      {"127.0.0.1", "not off, HOST:PORT or unix:PATH"},
      {"unix:relative", "must be absolute"},
      {"unix:/" + std::string(200, 'a'), "longer than"},
      {"on", "not off, HOST:PORT or unix:PATH"},
      {std::string("2.0.0.1\0[::1]:5900", 18), "contains a NUL byte"},
      {std::string("unix:/run/a\0b", 13), "contains a NUL byte"}};
  for (const auto& [text, part] : bad) {
    try {
      (void)ConsoleAddress::parse(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << text << ": " << e.what();
    }
  }
}

TEST(ConsoleSpecKeys, RoundTripAndAreNotKnobs) {
  const auto s = VgpuSpec::parse(
      "uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=simgpu-16,vnc=unix:/run/c.sock,vnc-password-file=/etc/"
      "pw,w=1");
  ASSERT_TRUE(s.vnc);
  EXPECT_EQ(*s.vnc, "unix:/run/c.sock");
  ASSERT_TRUE(s.vnc_password_file);
  EXPECT_EQ(*s.vnc_password_file, "/etc/pw");
  ASSERT_EQ(s.knobs.size(), 1u);
  EXPECT_EQ(VgpuSpec::parse(s.to_string()), s);
  EXPECT_EQ(VgpuSpec::from_json(s.to_json()), s);
  EXPECT_THROW(VgpuSpec::parse("uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,vnc=nowhere"), Error);
  EXPECT_THROW(VgpuSpec::parse("uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,vnc=off,vnc=off"), Error);
  EXPECT_THROW(VgpuSpec::parse("uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,vnc-password-file=pw"),
               Error);
}

TEST(ClientPolicy, HandshakeDeadline) {
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  ClientLimits l;
  l.handshake_timeout = 2s;
  ClientPolicy p(l, t0);
  EXPECT_EQ(p.observe(t0 + 1s, false, 0, 0), ClientVerdict::Keep);
  EXPECT_EQ(p.observe(t0 + 3s, false, 0, 0), ClientVerdict::DropSlowHandshake);
  ClientPolicy done(l, t0);
  EXPECT_EQ(done.observe(t0 + 3s, true, 0, 0), ClientVerdict::Keep);
}

TEST(ClientPolicy, ByteAndRequestRatesOverOneSecondWindows) {
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  ClientLimits l;
  l.max_bytes_per_second = 1000;
  l.max_update_requests_per_second = 10;
  ClientPolicy p(l, t0);
  EXPECT_EQ(p.observe(t0 + 500ms, true, 5000, 100), ClientVerdict::Keep) << "a burst inside a window";
  EXPECT_EQ(p.observe(t0 + 2s, true, 1500, 15), ClientVerdict::Keep) << "750 B/s, 7.5 requests/s";
  EXPECT_EQ(p.observe(t0 + 3s, true, 4000, 16), ClientVerdict::DropByteFlood);
  ClientPolicy q(l, t0);
  EXPECT_EQ(q.observe(t0 + 1s, true, 0, 50), ClientVerdict::DropRequestFlood);
  ClientPolicy r(l, t0);
  EXPECT_EQ(r.observe(t0 + 1s, true, 500, 5), ClientVerdict::Keep);
  EXPECT_EQ(r.observe(t0 + 2s, true, 100, 1), ClientVerdict::Keep)
      << "totals running backwards count as none";
}

TEST(FrameCopy, EachShownFormatLandsAsRgbInTheFramebuffer) {
  // One pixel (R=0x12, G=0x34, B=0x56) at (1, 1) of a 2x2 surface with a padded stride.
  struct Case {
    uint32_t fourcc;
    std::vector<uint8_t> bytes;
    std::array<uint8_t, 3> rgb;
  };
  const std::vector<Case> cases = {{fourcc('X', 'R', '2', '4'), {0x56, 0x34, 0x12, 0x00}, {0x12, 0x34, 0x56}},
                                   {fourcc('R', 'G', '2', '4'), {0x56, 0x34, 0x12}, {0x12, 0x34, 0x56}},
                                   // RGB565 0x11a6 = R 2, G 13, B 6 -> 2*255/31, 13*255/63, 6*255/31
                                   {fourcc('R', 'G', '1', '6'), {0xa6, 0x11}, {16, 52, 49}}};
  for (const auto& c : cases) {
    const uint32_t bpp = bytes_per_pixel(c.fourcc);
    const uint32_t stride = 2 * bpp + 5;
    std::vector<std::byte> vram(size_t{stride} * 2, std::byte{0xee});
    std::memcpy(vram.data() + stride + bpp, c.bytes.data(), c.bytes.size());
    gpu::DisplaySurface s;
    s.fourcc = c.fourcc;
    s.width = 2;
    s.height = 2;
    s.stride = stride;
    s.bytes_per_pixel = bpp;
    s.pixels = vram;
    std::vector<uint32_t> fb(4, 0xdeadbeef);
    ASSERT_TRUE(copy_to_framebuffer(s, {1, 1, 1, 1}, fb));
    EXPECT_EQ(fb[3], framebuffer_pixel(c.rgb[0], c.rgb[1], c.rgb[2])) << std::hex << c.fourcc;
    EXPECT_EQ(fb[0], 0xdeadbeefu) << "outside the rectangle nothing changes";
  }
  gpu::DisplaySurface unknown;
  unknown.fourcc = fourcc('C', '8', ' ', ' ');
  std::vector<uint32_t> fb(1);
  EXPECT_FALSE(copy_to_framebuffer(unknown, {0, 0, 1, 1}, fb));
}

// libvncserver's first-bytes peek, as it behaves: a short peek means "try again", so it only
// ends with 4 bytes, the end of the stream, or 100 ms without anything to read.
int peek_like_libvncserver(int fd) {
  for (;;) {
    std::array<char, 4> buf{};
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n == 4 || n == 0) return static_cast<int>(n);
    if (n < 0) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) == 0) return -1;  // quiet: a client that waits for the server
    }
  }
}

TEST(ClientWatchdog, EndsAnAdmissionStuckOnAClientsFirstBytes) {
  std::array<int, 2> sv{};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()), 0);
  UniqueFd server(sv[0]);
  UniqueFd client(sv[1]);
  ASSERT_EQ(::send(client.get(), "RF", 2, 0), 2);  // 2 of the 4 bytes, then nothing

  ClientWatchdog dog(50ms);
  dog.begin(server.get());
  const int peeked = peek_like_libvncserver(server.get());
  dog.end();
  EXPECT_EQ(peeked, 0);  // the 2 bytes were consumed and the socket shut down: end of stream
  EXPECT_EQ(dog.cut(), 1u);
}

TEST(ClientWatchdog, LeavesACallThatEndsInTimeAlone) {
  std::array<int, 2> sv{};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()), 0);
  UniqueFd server(sv[0]);
  UniqueFd client(sv[1]);
  ASSERT_EQ(::send(client.get(), "RFB 003.008\n", 12, 0), 12);

  ClientWatchdog dog(1s);
  dog.begin(server.get());
  EXPECT_EQ(peek_like_libvncserver(server.get()), 4);
  dog.end();
  std::this_thread::sleep_for(50ms);
  std::array<char, 12> got{};
  EXPECT_EQ(::recv(server.get(), got.data(), got.size(), MSG_DONTWAIT), 12);  // nothing consumed
  EXPECT_EQ(::send(server.get(), "x", 1, MSG_NOSIGNAL), 1) << "not shut down";
  EXPECT_EQ(dog.cut(), 0u);
}

// libvncserver's write to a client, as it behaves: on a full socket it waits up to 5 s for room
// and starts its wait again whenever some was made.
int write_like_libvncserver(int fd, const std::vector<char>& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 5000) == 0) return -ETIMEDOUT;
  }
  return 0;
}

TEST(ClientWatchdog, EndsAWriteToATcpClientThatStoppedReading) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  UniqueFd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server);

  ClientWatchdog dog(200ms);
  const auto t0 = std::chrono::steady_clock::now();
  dog.begin(server.get());
  const int rc = write_like_libvncserver(server.get(), std::vector<char>(64u << 20, 'x'));  // never read
  dog.end();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(rc, -EPIPE);
  EXPECT_LT(took, 2s) << "the write's 5 s wait for room ended when the socket was shut down";
  EXPECT_EQ(dog.cut(), 1u);
}

struct Connection {
  UniqueFd server;
  UniqueFd client;
};

Connection connection() {
  std::array<int, 2> sv{};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()), 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// One poll of what `wait` holds (no wait) and its verdict at `now`.
std::vector<UniqueFd> poll_and_take(OpeningWait& wait, OpeningWait::Clock::time_point now) {
  std::vector<pollfd> fds;
  wait.add_poll_fds(fds);
  EXPECT_GE(::poll(fds.data(), fds.size(), 0), 0);
  return wait.take_ready(fds, now);
}

TEST(OpeningWait, ReleasesAConnectionAsSoonAsItSpeaks) {
  const auto t0 = OpeningWait::Clock::now();
  OpeningWait wait(500ms, 4);
  Connection quiet = connection();
  Connection browser = connection();
  const int quiet_fd = quiet.server.get();
  const int browser_fd = browser.server.get();
  ASSERT_TRUE(wait.hold(std::move(quiet.server), t0));
  ASSERT_TRUE(wait.hold(std::move(browser.server), t0));
  EXPECT_EQ(wait.poll_timeout_ms(t0), 500);
  EXPECT_TRUE(poll_and_take(wait, t0 + 10ms).empty());

  ASSERT_EQ(::send(browser.client.get(), "GET ", 4, 0), 4);
  std::vector<UniqueFd> ready = poll_and_take(wait, t0 + 20ms);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].get(), browser_fd);
  EXPECT_EQ(wait.held(), 1u);
  EXPECT_EQ(wait.poll_timeout_ms(t0 + 20ms), 480);

  ready = poll_and_take(wait, t0 + 500ms);  // the quiet one: an RFB viewer waiting for the greeting
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].get(), quiet_fd);
  EXPECT_EQ(wait.held(), 0u);
  EXPECT_EQ(wait.poll_timeout_ms(t0 + 500ms), -1);
}

TEST(OpeningWait, ReleasesAConnectionClosedBeforeSpeaking) {
  const auto t0 = OpeningWait::Clock::now();
  OpeningWait wait(500ms, 4);
  Connection c = connection();
  ASSERT_TRUE(wait.hold(std::move(c.server), t0));
  c.client.reset();  // hang-up: libvncserver sees it and closes
  EXPECT_EQ(poll_and_take(wait, t0 + 1ms).size(), 1u);
}

TEST(OpeningWait, RefusesBeyondItsCapacity) {
  const auto t0 = OpeningWait::Clock::now();
  OpeningWait wait(500ms, 2);
  std::vector<Connection> cs;
  cs.reserve(3);
  for (int i = 0; i < 3; ++i) cs.push_back(connection());
  EXPECT_TRUE(wait.hold(std::move(cs[0].server), t0));
  EXPECT_TRUE(wait.hold(std::move(cs[1].server), t0 + 100ms));
  EXPECT_FALSE(wait.hold(std::move(cs[2].server), t0 + 200ms));
  EXPECT_EQ(wait.held(), 2u);
  char byte = 0;
  EXPECT_EQ(::recv(cs[2].client.get(), &byte, 1, 0), 0);  // the refused one is closed
  EXPECT_EQ(wait.poll_timeout_ms(t0 + 200ms), 300);       // the earliest deadline counts
}

}  // namespace
}  // namespace xvgpu::dm
