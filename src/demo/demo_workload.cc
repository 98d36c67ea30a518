// xvgpu-demo-workload: the guest side of the demo. Drives one simgpu vGPU of a domain on
// xensimd exactly as a guest kernel would: PCI enumeration and BAR assignment through CF8/CFC
// (as firmware does), MSI set-up, a mode set through the Bochs DISPI registers (the sequence of
// Linux's bochs DRM driver), drawing into the directly mapped VRAM, and engine jobs from a ring in
// guest RAM that complete with MSIs. Prints progress and timings; exits non-zero when anything
// the device answers is not what the guest expects.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/types.h"
#include "vendor/simgpu/engine_interface.h"
#include "xensim/guest.h"

namespace {

using xvgpu::Domid;
using xvgpu::Sbdf;
using xvgpu::VcpuId;
namespace eng = xvgpu::simgpu::engine;
using Clock = std::chrono::steady_clock;

// Where this "firmware" places the BARs and the guest's engine data (RAM is below 64 MiB+).
constexpr uint64_t kVramGpa = 0xE0000000;
constexpr uint64_t kRegsGpa = 0xE4000000;
constexpr uint64_t kEngineGpa = 0xE4001000;
constexpr uint64_t kRingGpa = 0x200000;
constexpr uint64_t kFenceGpa = 0x1ff000;
constexpr uint64_t kSpriteGpa = 0x400000;
constexpr uint32_t kRingSize = 64;
constexpr uint64_t kMsiAddr = 0xFEE00000;
constexpr uint32_t kMsiData = 0x4041;  // fixed delivery, vector 0x41

// DISPI registers, as 16-bit words at 0x500 + index * 2 of the register BAR.
constexpr uint64_t kDispi = 0x500;
enum : uint16_t {
  kXres = 1,
  kYres = 2,
  kBpp = 3,
  kEnable = 4,
  kBank = 5,
  kVirtW = 6,
  kVirtH = 7,
  kXoff = 8,
  kYoff = 9
};

class Workload {
 public:
  Workload(xensim::Guest& g, Domid d, Sbdf sbdf, uint32_t w, uint32_t h)
      : g_(g), d_(d), sbdf_(sbdf), w_(w), h_(h) {}

  void step(const char* what) {
    const double t = std::chrono::duration<double>(Clock::now() - t0_).count();
    std::printf("[%7.3fs] %s\n", t, what);
    std::fflush(stdout);
  }
  void expect(bool ok, const std::string& what) {
    if (!ok) {
      std::printf("  FAILED: %s\n", what.c_str());
      ++failures_;
    }
  }

  uint32_t cfg_read(uint16_t reg, uint32_t size) { return g_.pci_cfg_read(d_, VcpuId{0}, sbdf_, reg, size); }
  void cfg_write(uint16_t reg, uint32_t size, uint32_t v) {
    g_.pci_cfg_write(d_, VcpuId{0}, sbdf_, reg, size, v);
  }
  void dispi(uint16_t index, uint16_t value) {
    g_.mmio_write(d_, VcpuId{0}, kRegsGpa + kDispi + index * 2u, 2, value);
  }
  uint16_t dispi_read(uint16_t index) {
    return static_cast<uint16_t>(g_.mmio_read(d_, VcpuId{0}, kRegsGpa + kDispi + index * 2u, 2));
  }
  uint32_t engine_read(uint32_t reg) {
    return static_cast<uint32_t>(g_.mmio_read(d_, VcpuId{0}, kEngineGpa + reg, 4));
  }
  void engine_write(uint32_t reg, uint32_t v) { g_.mmio_write(d_, VcpuId{0}, kEngineGpa + reg, 4, v); }

  // Firmware: identify the function, size and place the BARs, enable decode and bus mastering.
  void enumerate() {
    const uint32_t id = cfg_read(0x00, 4);
    std::printf("  %s: vendor %04x device %04x class %06x\n", sbdf_.to_string().c_str(), id & 0xffff,
                id >> 16, cfg_read(0x08, 4) >> 8);
    expect(id == 0x11111234, "PCI ID 1234:1111 (simgpu)");
    const struct {
      uint16_t reg;
      uint64_t gpa;
    } bars[] = {{0x10, kVramGpa}, {0x18, kRegsGpa}, {0x20, kEngineGpa}};
    for (const auto& b : bars) {
      cfg_write(b.reg, 4, 0xffffffff);
      const uint32_t mask = cfg_read(b.reg, 4);
      const uint64_t size = (~uint64_t{mask & 0xfffffff0u} + 1) & 0xffffffffu;
      cfg_write(b.reg, 4, static_cast<uint32_t>(b.gpa));
      std::printf("  BAR%d: %llu KiB at 0x%llx%s\n", (b.reg - 0x10) / 4,
                  static_cast<unsigned long long>(size >> 10), static_cast<unsigned long long>(b.gpa),
                  (mask & 8) != 0 ? " (prefetchable)" : "");
      expect(size != 0, "BAR at config offset " + std::to_string(b.reg) + " is implemented");
    }
    cfg_write(0x04, 2, 0x0006);  // memory decode + bus master
    // MSI: walk the capability list.
    uint8_t cap = static_cast<uint8_t>(cfg_read(0x34, 1));
    uint8_t msi = 0;
    for (int guard = 0; cap != 0 && guard < 48; ++guard) {
      if (cfg_read(cap, 1) == 0x05) msi = cap;
      cap = static_cast<uint8_t>(cfg_read(cap + 1u, 1));
    }
    expect(msi != 0, "an MSI capability");
    if (msi != 0) {
      const uint32_t ctl = cfg_read(msi + 2u, 2);
      const bool is64 = (ctl & 0x80) != 0;
      cfg_write(msi + 4u, 4, static_cast<uint32_t>(kMsiAddr));
      if (is64) cfg_write(msi + 8u, 4, 0);
      cfg_write(msi + (is64 ? 0xcu : 0x8u), 2, kMsiData);
      cfg_write(msi + 2u, 2, (ctl & ~0x70u) | 1u);  // one vector, enabled
      std::printf("  MSI capability at 0x%02x (%s), vector 0x%02x\n", msi, is64 ? "64-bit" : "32-bit",
                  kMsiData & 0xff);
    }
  }

  // Linux bochs_hw_setmode() + bochs_hw_blank(false).
  void mode_set() {
    expect(dispi_read(0) >= 0xB0C0 && dispi_read(0) <= 0xB0C5, "DISPI ID register");
    g_.mmio_write(d_, VcpuId{0}, kRegsGpa + 0x604, 4, 0x1e1e1e1e);  // little-endian framebuffer
    dispi(kEnable, 0);
    dispi(kBpp, 32);
    dispi(kXres, static_cast<uint16_t>(w_));
    dispi(kYres, static_cast<uint16_t>(h_));
    dispi(kBank, 0);
    dispi(kVirtW, static_cast<uint16_t>(w_));
    dispi(kVirtH, static_cast<uint16_t>(h_));
    dispi(kXoff, 0);
    dispi(kYoff, 0);
    dispi(kEnable, 0x01 | 0x40);                              // enabled, linear framebuffer
    (void)g_.mmio_read(d_, VcpuId{0}, kRegsGpa + 0x41a, 1);   // reset the attribute flip-flop (0x3da)
    g_.mmio_write(d_, VcpuId{0}, kRegsGpa + 0x400, 1, 0x20);  // palette address source: unblank
    expect(dispi_read(kXres) == w_ && dispi_read(kYres) == h_, "mode reads back as set");
    std::printf("  mode %ux%u, 32 bpp, stride %u\n", dispi_read(kXres), dispi_read(kYres), w_ * 4);
  }

  // The CPU draws straight into VRAM (no ioreq: the BAR is directly mapped guest memory).
  void draw() {
    std::vector<uint32_t> line(w_);
    for (uint32_t y = 0; y < h_ / 2; ++y) {
      for (uint32_t x = 0; x < w_; ++x) {
        const double fx = static_cast<double>(x) / w_;
        const double fy = static_cast<double>(y) / h_;
        const auto r = static_cast<uint32_t>(255 * fx);
        const auto gg = static_cast<uint32_t>(255 * (0.5 + 0.5 * std::sin(fx * 12 + fy * 6)));
        const auto b = static_cast<uint32_t>(255 * (1 - fx));
        line[x] = r << 16 | gg << 8 | b;
      }
      g_.write_ram(d_, kVramGpa + uint64_t{y} * w_ * 4, std::as_bytes(std::span(line)));
    }
    std::vector<uint32_t> back(w_);
    g_.read_ram(d_, kVramGpa + uint64_t{h_ / 2 - 1} * w_ * 4, std::as_writable_bytes(std::span(back)));
    expect(back == line, "the last drawn row reads back from VRAM");
  }

  void ring_setup() {
    std::vector<std::byte> zero(uint64_t{kRingSize} * eng::kDescriptorSize);
    g_.write_ram(d_, kRingGpa, zero);
    expect(engine_read(eng::kRegId) == eng::kEngineId, "engine ID register");
    engine_write(eng::kRegRingBaseLo, static_cast<uint32_t>(kRingGpa));
    engine_write(eng::kRegRingBaseHi, 0);
    engine_write(eng::kRegRingSize, kRingSize);
    engine_write(eng::kRegFenceAddrLo, static_cast<uint32_t>(kFenceGpa));
    engine_write(eng::kRegFenceAddrHi, 0);
    engine_write(eng::kRegIrqMask, eng::kIrqCompletion | eng::kIrqError);
    engine_write(eng::kRegControl, eng::kControlEnable);
  }

  // Queues one descriptor, rings the doorbell and waits for its completion MSI. Returns µs.
  double submit(eng::Descriptor d) {
    d.seqno = ++seqno_;
    d.flags = eng::kFlagIrq;
    const uint32_t slot = tail_ % kRingSize;
    g_.write_ram(d_, kRingGpa + uint64_t{slot} * eng::kDescriptorSize, std::as_bytes(std::span(&d, 1)));
    ++tail_;
    const auto t = Clock::now();
    engine_write(eng::kRegDoorbell, tail_ % kRingSize);
    const bool got = g_.wait_msis(d_, ++msis_, std::chrono::seconds(5));
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
    expect(got, "completion MSI for job " + std::to_string(d.seqno));
    engine_write(eng::kRegIrqStatus, eng::kIrqCompletion);  // acknowledge (rw1c)
    return us;
  }

  void engine_jobs(unsigned sprites) {
    std::vector<double> lat;
    // 1. Fill the lower half (the CPU drew the upper half).
    eng::Descriptor fill{};
    fill.opcode = eng::kOpFill;
    fill.dst = uint64_t{h_ / 2} * w_ * 4;
    fill.width = w_ * 4;
    fill.height = h_ / 2;
    fill.dst_pitch = w_ * 4;
    fill.fill_value = 0x00203050;
    lat.push_back(submit(fill));
    // 2. A sprite in guest RAM, copied into VRAM by DMA, many times.
    constexpr uint32_t kS = 64;
    std::vector<uint32_t> sprite(kS * kS);
    for (uint32_t y = 0; y < kS; ++y) {
      for (uint32_t x = 0; x < kS; ++x) {
        const int dx = static_cast<int>(x) - 32;
        const int dy = static_cast<int>(y) - 32;
        sprite[y * kS + x] = dx * dx + dy * dy < 30 * 30 ? 0x00ffd040 : 0x00203050;
      }
    }
    g_.write_ram(d_, kSpriteGpa, std::as_bytes(std::span(sprite)));
    for (unsigned i = 0; i < sprites; ++i) {
      eng::Descriptor c{};
      c.opcode = eng::kOpCopyToVram;
      c.src = kSpriteGpa;
      const uint32_t cols = (w_ - 32) / 80;
      const uint32_t rows = (h_ / 2 - 32) / 80;
      const uint32_t x = 16 + (i % cols) * 80;
      const uint32_t y = h_ / 2 + 16 + (i / cols % rows) * 80;
      c.dst = (uint64_t{y} * w_ + x) * 4;
      c.width = kS * 4;
      c.height = kS;
      c.src_pitch = kS * 4;
      c.dst_pitch = w_ * 4;
      lat.push_back(submit(c));
    }
    // 3. Blit a band of the gradient down to the bottom-right corner.
    eng::Descriptor blit{};
    blit.opcode = eng::kOpBlit;
    blit.src = (uint64_t{40} * w_ + 40) * 4;
    blit.dst = (uint64_t{h_ - 140} * w_ + (w_ - 340)) * 4;
    blit.width = 300 * 4;
    blit.height = 100;
    blit.src_pitch = w_ * 4;
    blit.dst_pitch = w_ * 4;
    lat.push_back(submit(blit));

    const uint32_t fence = engine_read(eng::kRegFence);
    uint32_t fence_mem = 0;
    g_.read_ram(d_, kFenceGpa, std::as_writable_bytes(std::span(&fence_mem, 1)));
    expect(fence == seqno_, "FENCE register = last sequence number");
    expect(fence_mem == seqno_, "fence write-back in guest memory");
    expect(engine_read(eng::kRegErrorCount) == 0, "no rejected descriptor");
    uint32_t px = 0;
    g_.read_ram(d_, kVramGpa + fill.dst + 4, std::as_writable_bytes(std::span(&px, 1)));
    expect((px & 0xffffff) == 0x203050 || (px & 0xffffff) == 0xffd040, "the fill reached VRAM");
    std::sort(lat.begin(), lat.end());
    double sum = 0;
    for (double l : lat) sum += l;
    std::printf(
        "  %zu jobs, %u MSIs, fence %u; job latency (doorbell -> MSI seen by the guest): "
        "median %.0f us, p90 %.0f us, mean %.0f us\n",
        lat.size(), msis_, fence, lat[lat.size() / 2], lat[lat.size() * 9 / 10], sum / lat.size());
  }

  int failures() const { return failures_; }
  Clock::time_point t0_ = Clock::now();

 private:
  xensim::Guest& g_;
  Domid d_;
  Sbdf sbdf_;
  uint32_t w_, h_;
  uint32_t seqno_ = 0;
  uint32_t tail_ = 0;
  uint32_t msis_ = 0;
  int failures_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xvgpu-demo-workload: a guest driving a simgpu vGPU on xensim", "xvgpu-demo-workload"};
  std::string socket = xensim::default_socket_path();
  unsigned domid = 0;
  std::string bdf = "00:05.0";
  unsigned width = 1024;
  unsigned height = 768;
  unsigned sprites = 48;
  app.add_option("--socket", socket, "xensimd socket");
  app.add_option("--domain", domid, "Domain ID")->required();
  app.add_option("--bdf", bdf, "The vGPU's PCI address");
  app.add_option("--width", width, "Mode width")->check(CLI::Range(320, 1920));
  app.add_option("--height", height, "Mode height")->check(CLI::Range(200, 1200));
  app.add_option("--sprites", sprites, "Copy-to-VRAM jobs")->check(CLI::Range(1, 4000));
  CLI11_PARSE(app, argc, argv);
  const auto sbdf = Sbdf::parse(bdf);
  if (!sbdf) {
    std::fprintf(stderr, "xvgpu-demo-workload: --bdf %s: not BB:DD.F\n", bdf.c_str());
    return 2;
  }
  try {
    auto guest = xensim::Guest::connect(socket);
    Workload w(guest, Domid{static_cast<uint16_t>(domid)}, *sbdf, width, height);
    const Domid d{static_cast<uint16_t>(domid)};
    w.step("guest: PCI enumeration (CF8/CFC), BAR placement, MSI set-up");
    w.enumerate();
    w.step("guest: mode set through the DISPI registers (bochs driver sequence)");
    w.mode_set();
    w.step("guest: CPU draws the upper half into the directly mapped VRAM");
    w.draw();
    w.step("guest: engine ring in guest RAM; fill, copy-to-VRAM and blit jobs, each completing with an MSI");
    w.ring_setup();
    w.engine_jobs(sprites);
    const auto st = guest.status(d);
    std::printf(
        "  domain %u: %llu ioreqs sent to device models, %llu unclaimed accesses, %zu hung vCPUs%s%s\n",
        domid, static_cast<unsigned long long>(st.ioreqs), static_cast<unsigned long long>(st.unclaimed),
        st.hung.size(), st.crash_reason.empty() ? "" : ", crashed: ", st.crash_reason.c_str());
    w.expect(st.hung.empty() && st.crash_reason.empty(), "the domain is healthy");
    w.step(w.failures() == 0 ? "guest: workload done" : "guest: workload FAILED");
    return w.failures() == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xvgpu-demo-workload: %s\n", e.what());
    return 1;
  }
}
