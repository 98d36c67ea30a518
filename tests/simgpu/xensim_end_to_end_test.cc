// The whole stack on an in-process xensim host: a simulated guest enumerates the simgpu in
// PCI config space (CF8/CFC), programs it through ioreqs served by the real frontend and core,
// draws into VRAM that Xen maps straight into its physmap (no ioreq), and drives the engine
// with a ring in its RAM; MSIs arrive as Xen injects them.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "device_screenshot.h"
#include "gpu/vgpu_manager.h"
#include "guest_driver.h"
#include "guest_layout.h"
#include "ioreq/frontend.h"
#include "png_decode.h"
#include "vendor/simgpu/simgpu_device.h"
#include "vendor/simgpu/simgpu_vendor.h"
#include "xensim/guest.h"
#include "xensim/host.h"

namespace xvgpu::simgpu::test {
namespace {

using namespace std::chrono_literals;
using namespace engine;

constexpr uint64_t kMsiAddr = 0xfee00000;
constexpr uint32_t kMsiData = 0x0051;

// The guest's vCPU 0 issuing accesses that trap to the device model.
struct XensimDev {
  xensim::Guest& guest;
  Domid dom;
  uint64_t rd(uint32_t bar, uint64_t off, uint32_t size) {
    return guest.mmio_read(dom, VcpuId{0}, (bar == 2 ? kBar2 : kBar4) + off, size);
  }
  void wr(uint32_t bar, uint64_t off, uint32_t size, uint64_t v) {
    guest.mmio_write(dom, VcpuId{0}, (bar == 2 ? kBar2 : kBar4) + off, size, v);
  }
  uint32_t cfg_read(uint16_t reg, uint32_t size) {
    return guest.pci_cfg_read(dom, VcpuId{0}, kSbdf, reg, size);
  }
  void cfg_write(uint16_t reg, uint32_t size, uint32_t v) {
    guest.pci_cfg_write(dom, VcpuId{0}, kSbdf, reg, size, v);
  }
};

TEST(SimgpuOnXensim, BochsGuestDrawsAndRunsTheEngine) {
  const auto state_dir =
      std::filesystem::temp_directory_path() / ("simgpu-xensim-" + std::to_string(::getpid()));
  std::filesystem::remove_all(state_dir);
  std::filesystem::create_directories(state_dir);
  const int rc = xvgpu_simgpu_register_builtin();
  ASSERT_TRUE(rc == 0 || rc == -EEXIST);

  xensim::Host host;
  xensim::Guest guest(host);
  xensim::DomainConfig dc;
  dc.vcpus = 1;
  dc.ram_mib = 32;
  const Domid dom = guest.create_domain(dc);
  {
    ioreq::FrontendOptions fo;
    fo.handle_signals = false;
    fo.direct_memory_bytes = 16u << 20;  // one simgpu-16
    fo.domain_check_interval = 100ms;
    ioreq::Frontend fe(dom, fo);
    const gpu::Platform platform = fe.platform();
    gpu::VgpuManager manager(gpu::ManagerOptions{state_dir});
    manager.load_builtin_vendors();
    const std::string uuid = "5e5e5e5e-0000-4000-8000-00000000e2e0";
    gpu::VgpuConfig cfg;
    cfg.uuid = uuid;
    cfg.type = "simgpu-16";
    cfg.sbdf = kSbdf;
    auto v = manager.create_vgpu(cfg, platform);
    v->start();
    auto served = std::async(std::launch::async, [&] { return fe.run(manager.bus(dom)); });
    guest.unpause(dom);

    XensimDev g{guest, dom};
    ASSERT_EQ(g.cfg_read(0x00, 4), 0x11111234u);
    ASSERT_EQ(g.cfg_read(0x08, 4) >> 8, 0x030000u);
    for (const auto& [bar, addr] : {std::pair{0u, kBar0}, {2u, kBar2}, {4u, kBar4}}) {
      g.cfg_write(0x10 + bar * 4, 4, 0xffffffff);
      (void)g.cfg_read(0x10 + bar * 4, 4);
      g.cfg_write(0x10 + bar * 4, 4, static_cast<uint32_t>(addr));
    }
    g.cfg_write(0x04, 2, 0x0006);
    for (unsigned cap = g.cfg_read(0x34, 1); cap != 0; cap = g.cfg_read(static_cast<uint16_t>(cap + 1), 1)) {
      if (g.cfg_read(static_cast<uint16_t>(cap), 1) != 0x05) continue;
      g.cfg_write(static_cast<uint16_t>(cap + 4), 4, static_cast<uint32_t>(kMsiAddr));
      g.cfg_write(static_cast<uint16_t>(cap + 8), 4, 0);
      g.cfg_write(static_cast<uint16_t>(cap + 12), 2, kMsiData);
      g.cfg_write(static_cast<uint16_t>(cap + 2), 2, g.cfg_read(static_cast<uint16_t>(cap + 2), 2) | 1);
    }

    // rep stosw into the DISPI registers (Linux's memset_io), upwards and with the direction
    // flag set: Xen sends one ioreq whose value the device model stores into every item.
    // VIRT_WIDTH..Y_OFFSET (6..9) store what is written while the display is disabled.
    auto rep_stosw = [&](uint16_t first_reg, uint16_t value, bool down) {
      xensim::Access a;
      a.space = xensim::Space::mmio;
      a.dir = IOREQ_WRITE;
      a.size = 2;
      a.count = 4;
      a.df = down ? 1 : 0;
      a.addr = kBar2 + 0x500 + first_reg * 2;
      a.data = value;
      return guest.access(dom, VcpuId{0}, a);
    };
    const uint64_t bank = g.rd(2, 0x500 + 5 * 2, 2);
    const uint64_t vram64k = g.rd(2, 0x500 + 0xa * 2, 2);
    const xensim::AccessResult up = rep_stosw(6, 0x0123, false);
    EXPECT_EQ(up.status, xensim::AccessStatus::ok);
    EXPECT_EQ(up.ioreqs, 1u) << "one ioreq for the whole rep";
    for (uint16_t r = 6; r <= 9; ++r) EXPECT_EQ(g.rd(2, 0x500 + r * 2, 2), 0x0123u) << "register " << r;
    EXPECT_EQ(rep_stosw(9, 0x0456, true).ioreqs, 1u);
    for (uint16_t r = 6; r <= 9; ++r) EXPECT_EQ(g.rd(2, 0x500 + r * 2, 2), 0x0456u) << "register " << r;
    EXPECT_EQ(g.rd(2, 0x500 + 5 * 2, 2), bank) << "the rep stops at its last item";
    EXPECT_EQ(g.rd(2, 0x500 + 0xa * 2, 2), vram64k);

    // The bochs driver's probe and mode set, then a pattern written straight into VRAM.
    const BochsProbe p = bochs_probe(g);
    ASSERT_EQ(p.id & 0xfff0, 0xB0C0);
    ASSERT_EQ(p.mem, 16u << 20);
    const uint16_t w = 320;
    const uint16_t h = 240;
    bochs_setmode(g, w, h, p.mem);
    bochs_setbase(g, 0, 0, w * 4, 0);
    std::vector<std::byte> frame(size_t{w} * h * 4);
    std::vector<uint8_t> expected(size_t{w} * h * 3);
    for (size_t k = 0; k < size_t{w} * h; ++k) {
      const auto r = static_cast<uint8_t>(k * 3), gr = static_cast<uint8_t>(k >> 4),
                 b = static_cast<uint8_t>(k ^ 0x5a);
      frame[k * 4] = std::byte{b};
      frame[k * 4 + 1] = std::byte{gr};
      frame[k * 4 + 2] = std::byte{r};
      expected[k * 3] = r;
      expected[k * 3 + 1] = gr;
      expected[k * 3 + 2] = b;
    }
    const uint64_t ioreqs_before = guest.status(dom).ioreqs;
    guest.write_ram(dom, kBar0, frame);
    EXPECT_EQ(guest.status(dom).ioreqs, ioreqs_before) << "framebuffer writes cause no ioreq";
    std::vector<uint8_t> png;
    ASSERT_TRUE(with_device(uuid, [&](SimgpuDevice& d) { png = screenshot_png(d); }));
    const DecodedImage img = decode_png(png);
    ASSERT_EQ(img.width, w);
    ASSERT_EQ(img.height, h);
    EXPECT_EQ(img.rgb, expected) << "the screenshot is exactly the guest's pixels";

    // Engine: ring and data in guest RAM, completion MSIs as the guest programmed them.
    const uint64_t ring = 0x100000;
    const uint64_t src = 0x200000;
    std::vector<std::byte> data(256 * 1024);
    for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<std::byte>(k * 11 + 1);
    guest.write_ram(dom, src, data);
    const std::vector<Descriptor> jobs = {copy_to_vram(src, 0x400000, 256 * 1024, 1),
                                          copy_from_vram(0x400000, 0x300000, 256 * 1024, 2),
                                          copy_to_vram(0x7ff00000, 0, 4096, 3)};  // not guest RAM
    for (size_t k = 0; k < jobs.size(); ++k) {
      guest.write_ram(dom, ring + k * kDescriptorSize, std::as_bytes(std::span(&jobs[k], 1)));
    }
    g.wr(4, kRegRingBaseLo, 4, ring);
    g.wr(4, kRegRingSize, 4, 8);
    g.wr(4, kRegIrqMask, 4, kIrqCompletion | kIrqError);
    g.wr(4, kRegControl, 4, kControlEnable);
    g.wr(4, kRegDoorbell, 4, 3);
    ASSERT_TRUE(guest.wait_msis(dom, 3, 5s));
    for (const auto& m : guest.msis(dom)) {
      EXPECT_EQ(m.addr, kMsiAddr);
      EXPECT_EQ(m.data, kMsiData);
    }
    EXPECT_EQ(g.rd(4, kRegFence, 4), 3u);
    EXPECT_EQ(g.rd(4, kRegErrorCode, 4), kErrorGuestRange);
    std::vector<std::byte> back(data.size());
    guest.read_ram(dom, 0x300000, back);
    EXPECT_EQ(back, data) << "guest -> VRAM -> guest round trip";
    std::vector<std::byte> vram_copy(data.size());
    guest.read_ram(dom, kBar0 + 0x400000, vram_copy);
    EXPECT_EQ(vram_copy, data) << "the guest sees engine writes through its VRAM mapping";
    // Legacy ports, claimed from Xen once the guest turns on I/O decoding: the Bochs VBE pair
    // (a 16-bit access at the odd data port) and the VGA DAC.
    EXPECT_EQ(guest.pio_read(dom, VcpuId{0}, 0x1ce, 2), 0xffffu) << "no I/O decode yet";
    g.cfg_write(0x04, 2, 0x0007);
    guest.pio_write(dom, VcpuId{0}, 0x1ce, 2, 1);  // XRES
    EXPECT_EQ(guest.pio_read(dom, VcpuId{0}, 0x1cf, 2), w);
    guest.pio_write(dom, VcpuId{0}, 0x1ce, 2, 9);  // Y_OFFSET
    guest.pio_write(dom, VcpuId{0}, 0x1cf, 2, 3);
    EXPECT_EQ(g.rd(2, 0x500 + 9 * 2, 2), 3u) << "the port wrote the DISPI register";
    guest.pio_write(dom, VcpuId{0}, 0x3c8, 1, 17);
    for (const uint64_t c : {7u, 8u, 9u}) guest.pio_write(dom, VcpuId{0}, 0x3c9, 1, c);
    guest.pio_write(dom, VcpuId{0}, 0x3c7, 1, 17);
    EXPECT_EQ(guest.pio_read(dom, VcpuId{0}, 0x3c9, 1), 7u);
    EXPECT_EQ(guest.pio_read(dom, VcpuId{0}, 0x3c9, 1), 8u);
    g.cfg_write(0x04, 2, 0x0006);
    EXPECT_EQ(guest.pio_read(dom, VcpuId{0}, 0x1cf, 2), 0xffffu) << "released with I/O decode off";
    EXPECT_TRUE(guest.status(dom).crash_reason.empty());

    fe.request_stop();
    EXPECT_EQ(served.get(), ioreq::StopReason::StopRequested);
    manager.destroy_vgpu(uuid);
  }
  guest.destroy_domain(dom);
  std::filesystem::remove_all(state_dir);
}

}  // namespace
}  // namespace xvgpu::simgpu::test
