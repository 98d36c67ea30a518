// The VNC console of the production xvgpu-dm on xensim: its own xensimd, a domain with one vCPU,
// xvgpu-dm serving one simgpu-16 with its console on loopback, this process as the guest (mode
// set through the DISPI registers, stores into the directly mapped VRAM) and as VNC clients.
//
//   console_bench [--samples N] [--seconds S]
//
// Prints:
//  1. latency from a guest VRAM store (one pixel) to that pixel arriving at a connected client
//     (min / median / p90 / max over N stores at random places);
//  2. xvgpu-dm CPU use (all threads, /proc/<pid>/stat) over S seconds of a still screen: without
//     clients, and with one client connected and asking for updates;
//  3. the same while the guest redraws the whole 1024x768 screen 30 times a second, with the
//     client's received frame rate;
//  4. guest register reads (DISPI ID, 2-byte MMIO) idle and during a flood by four clients
//     asking for full frames without pause: mean and median round trip and their ratio.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "xensim/guest.h"
#include "xensim/transport.h"

extern char** environ;

using namespace xvgpu;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kVram = 0xE0000000;
constexpr uint64_t kRegs = 0xE4000000;
constexpr uint32_t kW = 1024;
constexpr uint32_t kH = 768;
constexpr const char* kUuid = "0b5e55ed-0000-4000-8000-00000000c0de";
const Sbdf kSbdf{0, 0, 5, 0};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// CPU time of a whole process so far (user + system), in seconds.
double process_cpu_s(pid_t pid) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int f = 3; f < 14; ++f) fields >> skip;
  uint64_t utime = 0;
  uint64_t stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& err_path, std::vector<std::string> env) {
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    std::vector<char*> a;
    std::vector<char*> e;
    for (const auto& x : argv) a.push_back(const_cast<char*>(x.c_str()));
    for (const auto& x : env) e.push_back(const_cast<char*>(x.c_str()));
    a.push_back(nullptr);
    e.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, a[0], &fa, nullptr, a.data(), e.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      std::fprintf(stderr, "cannot run %s: %s\n", argv[0].c_str(), std::strerror(rc));
      std::exit(2);
    }
  }
  ~Child() {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  [[nodiscard]] pid_t pid() const { return pid_; }
  bool running() const {
    int st = 0;
    return ::waitpid(pid_, &st, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

bool read_exact(int fd, void* buf, size_t n) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}
void write_all(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const uint8_t*>(buf);
  while (n > 0) {
    const ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r <= 0) return;
    p += r;
    n -= static_cast<size_t>(r);
  }
}

// A raw-encoding RFB 3.8 client without authentication; its thread keeps one incremental update
// request outstanding and applies every rectangle to its copy of the screen.
class RfbClient {
 public:
  explicit RfbClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("connect");
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char version[12];
    if (!read_exact(fd_, version, 12)) fail("version");
    write_all(fd_, "RFB 003.008\n", 12);
    uint8_t n = 0;
    if (!read_exact(fd_, &n, 1) || n == 0) fail("security types");
    std::vector<uint8_t> types(n);
    read_exact(fd_, types.data(), n);
    const uint8_t none = 1;
    write_all(fd_, &none, 1);
    uint32_t result = 1;
    if (!read_exact(fd_, &result, 4) || result != 0) fail("security result");
    const uint8_t shared = 1;
    write_all(fd_, &shared, 1);
    uint8_t init[24];
    if (!read_exact(fd_, init, 24)) fail("server init");
    width_ = static_cast<uint32_t>(init[0] << 8 | init[1]);
    height_ = static_cast<uint32_t>(init[2] << 8 | init[3]);
    uint32_t name_len = ntohl(*reinterpret_cast<uint32_t*>(init + 20));
    std::vector<char> name(name_len);
    read_exact(fd_, name.data(), name_len);
    // 32 bpp, depth 24, little endian, true colour, R at 16, G at 8, B at 0 (as XRGB8888).
    const uint8_t fmt[20] = {0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};
    write_all(fd_, fmt, sizeof fmt);
    const uint8_t enc[8] = {2, 0, 0, 1, 0, 0, 0, 0};  // raw only
    write_all(fd_, enc, sizeof enc);
    pixels_.assign(size_t{width_} * height_, 0);
    request(false);
    thread_ = std::thread([this] { run(); });
  }
  ~RfbClient() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  RfbClient(const RfbClient&) = delete;
  RfbClient& operator=(const RfbClient&) = delete;

  // Waits until pixel (x, y) holds value; the time it arrived.
  std::optional<Clock::time_point> wait_pixel(uint32_t x, uint32_t y, uint32_t value,
                                              std::chrono::seconds limit) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, limit,
                      [&] { return x < width_ && y < height_ && pixels_[y * width_ + x] == value; }))
      return std::nullopt;
    return arrived_;
  }
  uint64_t updates() {
    std::lock_guard lock(mu_);
    return updates_;
  }

 private:
  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "rfb client: %s failed\n", what);
    std::exit(1);
  }
  void request(bool incremental) {
    uint8_t m[10] = {3, static_cast<uint8_t>(incremental ? 1 : 0), 0, 0, 0, 0};
    m[6] = static_cast<uint8_t>(width_ >> 8);
    m[7] = static_cast<uint8_t>(width_);
    m[8] = static_cast<uint8_t>(height_ >> 8);
    m[9] = static_cast<uint8_t>(height_);
    write_all(fd_, m, sizeof m);
  }
  void run() {
    std::vector<uint32_t> row;
    for (;;) {
      uint8_t head[4];
      if (!read_exact(fd_, head, 4)) return;
      if (head[0] != 0) return;  // only updates are expected
      const unsigned n = head[2] << 8 | head[3];
      for (unsigned i = 0; i < n; ++i) {
        uint8_t r[12];
        if (!read_exact(fd_, r, 12)) return;
        const uint32_t x = r[0] << 8 | r[1], y = r[2] << 8 | r[3], w = r[4] << 8 | r[5], h = r[6] << 8 | r[7];
        if (r[8] != 0 || r[9] != 0 || r[10] != 0 || r[11] != 0) return;  // raw only
        row.resize(w);
        for (uint32_t k = 0; k < h; ++k) {
          if (!read_exact(fd_, row.data(), size_t{w} * 4)) return;
          std::lock_guard lock(mu_);
          if (y + k < height_ && x + w <= width_)
            std::copy(row.begin(), row.end(), &pixels_[(y + k) * width_ + x]);
        }
      }
      {
        std::lock_guard lock(mu_);
        arrived_ = Clock::now();
        ++updates_;
      }
      cv_.notify_all();
      request(true);
    }
  }

  int fd_ = -1;
  uint32_t width_ = 0;
  uint32_t height_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint32_t> pixels_;
  Clock::time_point arrived_;
  uint64_t updates_ = 0;
  std::thread thread_;
};

// A client that asks for full frames without pause (reading what comes, so it is not dropped as
// a stalled client) until destroyed.
class FloodClient {
 public:
  explicit FloodClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    writer_ = std::thread([this] {
      char buf[12];
      if (!read_exact(fd_, buf, 12)) return;
      write_all(fd_, "RFB 003.008\n", 12);
      uint8_t n = 0;
      read_exact(fd_, &n, 1);
      std::vector<uint8_t> t(n);
      read_exact(fd_, t.data(), n);
      const uint8_t one = 1;
      write_all(fd_, &one, 1);
      read_exact(fd_, buf, 4);
      write_all(fd_, &one, 1);
      std::thread reader([this] {
        std::vector<char> sink(1 << 16);
        while (::recv(fd_, sink.data(), sink.size(), 0) > 0) {
        }
      });
      const uint8_t req[10] = {3, 0, 0, 0, 0, 0, kW >> 8, kW & 0xff, kH >> 8, kH & 0xff};
      while (!stop_) {
        write_all(fd_, req, sizeof req);
        std::this_thread::sleep_for(2ms);  // ~500 requests/s: under the drop threshold
      }
      ::shutdown(fd_, SHUT_RDWR);
      reader.join();
    });
  }
  ~FloodClient() {
    stop_ = true;
    if (writer_.joinable()) writer_.join();
    ::close(fd_);
  }
  FloodClient(const FloodClient&) = delete;
  FloodClient& operator=(const FloodClient&) = delete;

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread writer_;
};

struct Stats {
  double mean = 0;
  double median = 0;
  double p90 = 0;
  double min = 0;
  double max = 0;
};
Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  s.median = v[v.size() / 2];
  s.p90 = v[v.size() * 9 / 10];
  s.min = v.front();
  s.max = v.back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int samples = 100;
  double seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--samples") samples = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--seconds") seconds = std::atof(argv[i + 1]);
  }
  char tmpl[] = "/tmp/console-bench.XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  const std::string socket = (dir / "xensim.sock").string();
  std::optional<Child> daemon;
  daemon.emplace(std::vector<std::string>{XENSIMD_PATH, "--socket", socket},
                 (dir / "xensimd.stderr").string(), std::vector<std::string>{});
  for (int i = 0; i < 500 && !xensim::connect_socket(socket); ++i) std::this_thread::sleep_for(10ms);
  xensim::Guest guest = xensim::Guest::connect(socket);
  fs::create_directories(dir / "state");
  const Domid dom = guest.create_domain({.vcpus = 1, .ram_mib = 64, .start_paused = true});
  const fs::path log = dir / "dm.log";
  std::optional<Child> dm;
  dm.emplace(std::vector<std::string>{XVGPU_DM_PATH, "--domain", std::to_string(dom.value), "--vgpu",
                                      std::string("uuid=") + kUuid + ",type=simgpu-16,vnc=127.0.0.1:0",
                                      "--control-socket", (dir / "dm.sock").string(), "--pidfile",
                                      (dir / "dm.pid").string(), "--log-file", log.string(),
                                      "--xenstore-node", "none"},
             (dir / "dm.stderr").string(),
             std::vector<std::string>{"LD_LIBRARY_PATH=" XENSIM_LIBDIR, "XENSIM_SOCKET=" + socket,
                                      "XVGPU_STATE_DIR=" + (dir / "state").string()});
  uint16_t port = 0;
  for (int i = 0; i < 6000 && port == 0; ++i) {
    const std::string text = slurp(log);
    const auto at = text.find("VNC console on 127.0.0.1:");
    if (at != std::string::npos && text.find("ready: control socket") != std::string::npos) {
      port = static_cast<uint16_t>(std::atoi(text.c_str() + at + std::strlen("VNC console on 127.0.0.1:")));
    }
    if (!dm->running()) break;
    std::this_thread::sleep_for(10ms);
  }
  if (port == 0) {
    std::fprintf(stderr, "xvgpu-dm did not come up with a console; log:\n%s\n", slurp(log).c_str());
    return 1;
  }
  guest.unpause(dom);
  // Firmware: BAR0 (VRAM) and BAR2 (registers) placed, decode on; then Linux's bochs mode set.
  guest.pci_cfg_write(dom, VcpuId{0}, kSbdf, 0x10, 4, static_cast<uint32_t>(kVram));
  guest.pci_cfg_write(dom, VcpuId{0}, kSbdf, 0x18, 4, static_cast<uint32_t>(kRegs));
  guest.pci_cfg_write(dom, VcpuId{0}, kSbdf, 0x04, 2, 0x0006);
  auto dispi = [&](unsigned index, uint16_t v) {
    guest.mmio_write(dom, VcpuId{0}, kRegs + 0x500 + index * 2, 2, v);
  };
  guest.mmio_write(dom, VcpuId{0}, kRegs + 0x604, 4, 0x1e1e1e1e);
  dispi(4, 0);
  dispi(3, 32);
  dispi(1, kW);
  dispi(2, kH);
  dispi(6, kW);
  dispi(7, kH);
  dispi(4, 0x41);
  (void)guest.mmio_read(dom, VcpuId{0}, kRegs + 0x41a, 1);
  guest.mmio_write(dom, VcpuId{0}, kRegs + 0x400, 1, 0x20);
  auto read_id = [&] { return guest.mmio_read(dom, VcpuId{0}, kRegs + 0x500, 2); };
  if (read_id() != 0xB0C5) {
    std::fprintf(stderr, "DISPI ID does not read back\n");
    return 1;
  }
  std::printf("xvgpu-dm pid %d, console 127.0.0.1:%u, simgpu-16 at %ux%u XRGB8888\n", dm->pid(), port, kW,
              kH);

  // 1. Store-to-client latency.
  {
    RfbClient client(port);
    std::this_thread::sleep_for(500ms);
    std::mt19937 rng(42);
    std::vector<double> ms;
    for (int i = 0; i < samples; ++i) {
      const uint32_t x = rng() % kW;
      const uint32_t y = rng() % kH;
      const uint32_t value = (rng() & 0xffffff) | 1;
      const auto t0 = Clock::now();
      guest.write_ram(dom, kVram + (uint64_t{y} * kW + x) * 4, std::as_bytes(std::span(&value, 1)));
      const auto t1 = client.wait_pixel(x, y, value, 5s);
      if (!t1) {
        std::fprintf(stderr, "store %d (%u,%u) never reached the client\n", i, x, y);
        return 1;
      }
      ms.push_back(std::chrono::duration<double, std::milli>(*t1 - t0).count());
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
    }
    const Stats s = stats_of(ms);
    std::printf(
        "\n1. guest VRAM store -> pixel at the client, %d stores: min %.1f ms, median %.1f ms, p90 %.1f ms, "
        "max %.1f ms (dirty-log poll every 33 ms)\n",
        samples, s.min, s.median, s.p90, s.max);
  }

  // 2. Idle CPU.
  auto cpu_over = [&](double secs) {
    const double c0 = process_cpu_s(dm->pid());
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(secs));
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    return 100.0 * (process_cpu_s(dm->pid()) - c0) / wall;
  };
  std::printf("\n2. xvgpu-dm CPU with a still screen, over %.0f s:\n", seconds);
  std::printf("   no client:             %.2f%% of one CPU\n", cpu_over(seconds));
  {
    RfbClient client(port);
    std::this_thread::sleep_for(500ms);
    std::printf("   one connected client:  %.2f%% of one CPU\n", cpu_over(seconds));
  }

  // 3. Full-screen animation at 30 frames per second.
  {
    RfbClient client(port);
    std::this_thread::sleep_for(500ms);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> frames{0};
    std::atomic<uint64_t> late{0};
    std::thread painter([&] {
      std::vector<uint32_t> frame(size_t{kW} * kH);
      auto next = Clock::now();
      for (uint32_t f = 0; !stop; ++f) {
        for (uint32_t y = 0; y < kH; ++y)
          for (uint32_t x = 0; x < kW; ++x) frame[y * kW + x] = (x + f * 7) << 16 | (y + f * 3) << 8 | f;
        guest.write_ram(dom, kVram, std::as_bytes(std::span(frame)));
        ++frames;
        next += std::chrono::microseconds(33333);
        if (Clock::now() > next) {
          ++late;
          next = Clock::now();
        }
        std::this_thread::sleep_until(next);
      }
    });
    std::this_thread::sleep_for(500ms);
    const uint64_t u0 = client.updates();
    const uint64_t f0 = frames;
    const auto t0 = Clock::now();
    const double cpu = cpu_over(seconds);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double fps_in = static_cast<double>(frames - f0) / wall;
    const double fps_out = static_cast<double>(client.updates() - u0) / wall;
    stop = true;
    painter.join();
    std::printf(
        "\n3. full-screen animation (%ux%u) painted at %.1f frames/s (%llu late): xvgpu-dm %.1f%% of one "
        "CPU, client received %.1f updates/s\n",
        kW, kH, fps_in, static_cast<unsigned long long>(late.load()), cpu, fps_out);
  }

  // 4. Guest register reads idle and during a client flood.
  auto timed_reads = [&](int n) {
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      if (read_id() != 0xB0C5) {
        std::fprintf(stderr, "register read answered wrong\n");
        std::exit(1);
      }
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    return stats_of(us);
  };
  for (int i = 0; i < 500; ++i) (void)read_id();
  const Stats idle = timed_reads(5000);
  Stats flood;
  {
    std::vector<std::unique_ptr<FloodClient>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<FloodClient>(port));
    std::this_thread::sleep_for(1s);
    flood = timed_reads(5000);
  }
  std::printf(
      "\n4. guest register reads (DISPI ID), 5000 each: idle mean %.1f us median %.1f us; during a flood of "
      "4 clients asking for full frames: mean %.1f us median %.1f us; ratio mean %.2fx, median %.2fx\n",
      idle.mean, idle.median, flood.mean, flood.median, flood.mean / idle.mean, flood.median / idle.median);
  dm.reset();
  guest.shutdown_daemon();
  daemon.reset();
  fs::remove_all(dir);
  return 0;
}
