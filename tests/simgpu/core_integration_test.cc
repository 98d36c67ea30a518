// simgpu behind the real vGPU core (src/gpu) on the fake platform (tests/support): the guest
// finds it in PCI config space, places its BARs, enables MSI, sets a mode through the core's
// access dispatch exactly as the bochs driver does, draws into directly mapped VRAM and drives
// the engine; the core's save/restore carries the whole device.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <thread>

#include "device_screenshot.h"
#include "gpu/vendor_descriptor.h"
#include "gpu/vgpu_manager.h"
#include "guest_driver.h"
#include "guest_layout.h"
#include "png_decode.h"
#include "support/fake_platform.h"
#include "vendor/simgpu/simgpu_device.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::simgpu::test {
namespace {

using namespace engine;

constexpr uint64_t kMsiAddr = 0xfee01000;
constexpr uint32_t kMsiData = 0x4041;

// The guest: config cycles and MMIO through the domain's device bus, as the frontend
// delivers them.
struct BusGuest {
  gpu::DeviceBus& bus;
  Sbdf sbdf = kSbdf;
  uint32_t cfg_read(unsigned off, uint8_t size) {
    gpu::IoAccess a{gpu::AddressSpace::PciConfig, off, sbdf, size, VcpuId{0}};
    return static_cast<uint32_t>(bus.read(a));
  }
  void cfg_write(unsigned off, uint8_t size, uint32_t v) {
    gpu::IoAccess a{gpu::AddressSpace::PciConfig, off, sbdf, size, VcpuId{0}};
    bus.write(a, v);
  }
  uint64_t in(uint16_t port, uint8_t size) {
    gpu::IoAccess a{gpu::AddressSpace::Port, port, {}, size, VcpuId{0}};
    return bus.read(a);
  }
  void out(uint16_t port, uint8_t size, uint64_t v) {
    gpu::IoAccess a{gpu::AddressSpace::Port, port, {}, size, VcpuId{0}};
    bus.write(a, v);
  }
  uint64_t rd(uint32_t bar, uint64_t off, uint32_t size) {
    gpu::IoAccess a{
        gpu::AddressSpace::Mmio, (bar == 2 ? kBar2 : kBar4) + off, {}, static_cast<uint8_t>(size), VcpuId{0}};
    return bus.read(a);
  }
  void wr(uint32_t bar, uint64_t off, uint32_t size, uint64_t v) {
    gpu::IoAccess a{
        gpu::AddressSpace::Mmio, (bar == 2 ? kBar2 : kBar4) + off, {}, static_cast<uint8_t>(size), VcpuId{0}};
    bus.write(a, v);
  }
  // What firmware and the PCI core do: size and place the BARs, enable decode and MSI.
  void enumerate() {
    for (const auto& [bar, addr] : {std::pair{0u, kBar0}, {2u, kBar2}, {4u, kBar4}}) {
      cfg_write(0x10 + bar * 4, 4, 0xffffffff);
      (void)cfg_read(0x10 + bar * 4, 4);
      cfg_write(0x10 + bar * 4, 4, static_cast<uint32_t>(addr));
    }
    cfg_write(0x04, 2, 0x0006);  // memory decode, bus master
    for (unsigned cap = cfg_read(0x34, 1); cap != 0; cap = cfg_read(cap + 1, 1)) {
      if (cfg_read(cap, 1) != 0x05) continue;
      cfg_write(cap + 4, 4, static_cast<uint32_t>(kMsiAddr));
      cfg_write(cap + 8, 4, 0);
      cfg_write(cap + 12, 2, kMsiData);
      cfg_write(cap + 2, 2, cfg_read(cap + 2, 2) | 1);
    }
  }
};

// The bochs driver's mode set: BARs placed, a WxH 32 bpp mode scanned out from VRAM offset base.
BochsProbe show_mode(BusGuest& g, uint16_t w, uint16_t h, uint64_t base) {
  g.enumerate();
  const BochsProbe p = bochs_probe(g);
  bochs_setmode(g, w, h, p.mem);
  bochs_setbase(g, 0, 0, w * 4, base);
  return p;
}

uint64_t counter(gpu::Vgpu& v, const std::string& name) {
  for (const auto& c : v.stats()) {
    if (c.name == name) return c.value;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

class CoreIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    state_dir_ = std::filesystem::temp_directory_path() /
                 ("simgpu-core-test-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(state_dir_);
    std::filesystem::create_directories(state_dir_);
    const int rc = xvgpu_simgpu_register_builtin();
    ASSERT_TRUE(rc == 0 || rc == -EEXIST);
    manager_ = std::make_unique<gpu::VgpuManager>(gpu::ManagerOptions{state_dir_});
    manager_->load_builtin_vendors();
  }
  void TearDown() override {
    manager_.reset();
    std::filesystem::remove_all(state_dir_);
  }
  std::shared_ptr<gpu::Vgpu> make(xvgpu::test::FakePlatform& fp, const std::string& uuid,
                                  const std::string& type, Sbdf sbdf = kSbdf) {
    gpu::VgpuConfig cfg;
    cfg.uuid = uuid;
    cfg.type = type;
    cfg.sbdf = sbdf;
    return manager_->create_vgpu(cfg, fp.platform());
  }

  // A started simgpu-16 vGPU of domain domid, and that domain's guest.
  struct Started {
    xvgpu::test::FakePlatform& fp;
    std::shared_ptr<gpu::Vgpu> v;
    BusGuest g;
  };
  Started start(uint16_t domid, const std::string& uuid) {
    auto& fp = platform(domid);
    auto v = make(fp, uuid, "simgpu-16");
    v->start();
    return {fp, v, BusGuest{manager_->bus(Domid{domid})}};
  }

  // The platforms outlive the manager (and so every vGPU on them).
  xvgpu::test::FakePlatform& platform(uint16_t domid) {
    platforms_.push_back(std::make_unique<xvgpu::test::FakePlatform>(Domid{domid}));
    return *platforms_.back();
  }

  std::filesystem::path state_dir_;
  std::vector<std::unique_ptr<xvgpu::test::FakePlatform>> platforms_;
  std::unique_ptr<gpu::VgpuManager> manager_;
};

TEST_F(CoreIntegration, EnumeratedAsABochsDisplay) {
  bool found = false;
  for (const auto& g : manager_->physical_gpus()) {
    if (g.info->vendor != "simgpu") continue;
    found = true;
    ASSERT_EQ(g.types.size(), 3u);
    EXPECT_EQ(g.types[0].type->name, "simgpu-16");
    EXPECT_EQ(g.types[0].available, 8u);
    EXPECT_EQ(g.types[2].available, 4u);
  }
  ASSERT_TRUE(found);

  auto [fp, v, g] = start(3, "11111111-2222-4333-8444-555555555555");
  EXPECT_EQ(g.cfg_read(0x00, 4), 0x11111234u);
  EXPECT_EQ(g.cfg_read(0x08, 4) >> 8, 0x030000u);
  EXPECT_EQ(g.cfg_read(0x08, 1), 2u) << "revision 2: extended registers present";
  g.cfg_write(0x10, 4, 0xffffffff);
  EXPECT_EQ(g.cfg_read(0x10, 4), 0xff000008u) << "16 MiB, 32-bit, prefetchable memory";
  g.cfg_write(0x18, 4, 0xffffffff);
  EXPECT_EQ(g.cfg_read(0x18, 4), 0xfffff000u);
  g.cfg_write(0x20, 4, 0xffffffff);
  EXPECT_EQ(g.cfg_read(0x20, 4), 0xfffff000u);
  g.enumerate();
  const auto regions = fp.direct.regions();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0]->placed(), kBar0) << "VRAM placed for direct guest access";
  const auto ranges = fp.claims.ranges();
  EXPECT_TRUE(ranges.contains({gpu::IoSpace::Mmio, kBar2, kBar2 + 0xfff}));
  EXPECT_TRUE(ranges.contains({gpu::IoSpace::Mmio, kBar4, kBar4 + 0xfff}));
  EXPECT_FALSE(ranges.contains({gpu::IoSpace::Mmio, kBar0, kBar0 + (16u << 20) - 1}))
      << "VRAM is not trapped";

  const BochsProbe p = bochs_probe(g);
  EXPECT_EQ(p.id, 0xB0C5);
  EXPECT_EQ(p.mem, 16u << 20);
  EXPECT_EQ(p.qext_size, 8u);
  // The core splits a misaligned 16-bit read of the EDID into bytes.
  EXPECT_EQ(g.rd(2, 1, 2), 0xffffu);
}

TEST_F(CoreIntegration, BochsModeSetPatternAndEngineThroughTheCore) {
  const std::string uuid = "11111111-2222-4333-8444-000000000001";
  auto [fp, v, g] = start(3, uuid);
  const uint16_t w = 640;
  const uint16_t h = 480;
  show_mode(g, w, h, 0);

  // The guest draws through its direct mapping of BAR0.
  auto* vram_region = fp.direct.regions().at(0);
  auto vram = vram_region->host();
  std::vector<uint8_t> expected(size_t{w} * h * 3);
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      const uint32_t px = (x * 3) << 16 | (y * 5 & 0xff) << 8 | ((x ^ y) & 0xff);
      std::memcpy(vram.data() + (size_t{y} * w + x) * 4, &px, 4);
      const size_t o = (size_t{y} * w + x) * 3;
      expected[o] = static_cast<uint8_t>(px >> 16);
      expected[o + 1] = static_cast<uint8_t>(px >> 8);
      expected[o + 2] = static_cast<uint8_t>(px);
    }
  }
  for (uint64_t page = 0; page < uint64_t{w} * h * 4 / 4096 + 1; ++page) vram_region->touch(page);
  std::vector<uint8_t> png;
  ASSERT_TRUE(with_device(uuid, [&](SimgpuDevice& d) { png = screenshot_png(d); }));
  const DecodedImage img = decode_png(png);
  ASSERT_EQ(img.width, w);
  EXPECT_EQ(img.rgb, expected);
  const auto surface = v->display_surface(0);
  ASSERT_TRUE(surface);
  EXPECT_EQ(surface->width, w);
  EXPECT_EQ(surface->stride, w * 4u);
  EXPECT_EQ(surface->pixels.data(), reinterpret_cast<const std::byte*>(vram.data()));

  // Engine: a ring in guest RAM, copies in both directions, MSIs to the programmed address.
  const uint64_t ring = 0x10000;
  const uint64_t src = 0x100000;
  auto ram = fp.memory.bytes(src, 1u << 20);
  for (size_t k = 0; k < ram.size(); ++k) ram[k] = static_cast<std::byte>(k * 7 + 3);
  const uint64_t want = checksum(ram.data(), ram.size());
  g.wr(4, kRegRingBaseLo, 4, ring);
  g.wr(4, kRegRingSize, 4, 16);
  g.wr(4, kRegIrqMask, 4, kIrqCompletion | kIrqError);
  g.wr(4, kRegControl, 4, kControlEnable);
  const std::vector<Descriptor> jobs = {copy_to_vram(src, 0x800000, 1u << 20, 1),
                                        copy_from_vram(0x800000, 0x300000, 1u << 20, 2),
                                        copy_to_vram(0xf00000, 0, 4096, 3)};  // hole below: rejected
  fp.memory.add_hole(0xf00000, 0x1000);
  for (size_t k = 0; k < jobs.size(); ++k) {
    auto slot = fp.memory.bytes(ring + k * kDescriptorSize, kDescriptorSize);
    std::memcpy(slot.data(), &jobs[k], kDescriptorSize);
  }
  g.wr(4, kRegDoorbell, 4, 3);
  ASSERT_TRUE(fp.interrupts.wait_for_msis(3));
  for (const auto& m : fp.interrupts.msis()) EXPECT_EQ(m, (xvgpu::test::RecordedMsi{kMsiAddr, kMsiData}));
  // The sink sees the last MSI a moment before the vendor and the core count it.
  for (int k = 0; k < 2000 && (counter(*v, "interrupts") < 3 || counter(*v, "core.msi_delivered") < 3); ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(g.rd(4, kRegStatus, 4) & kStatusBusy, 0u);
  EXPECT_EQ(g.rd(4, kRegFence, 4), 3u);
  EXPECT_EQ(checksum(vram.data() + 0x800000, 1u << 20), want);
  EXPECT_EQ(checksum(fp.memory.bytes(0x300000, 1u << 20).data(), 1u << 20), want);
  EXPECT_EQ(fp.interrupts.msi_count(), 3u);
  EXPECT_EQ(counter(*v, "engine_jobs"), 2u);
  EXPECT_EQ(counter(*v, "rejected_descriptors"), 1u);
  EXPECT_EQ(counter(*v, "interrupts"), 3u);
  EXPECT_EQ(counter(*v, "core.msi_delivered"), 3u);
  EXPECT_EQ(fp.memory.live_mappings(), 0u);
  EXPECT_TRUE(fp.memory.dirty_pages().contains(0x300000 >> 12)) << "DMA writes reach the dirty log";

  // Knobs through the core's typed interface.
  v->knob_set("engine_weight", "250");
  EXPECT_EQ(v->knob_get("engine_weight"), "250");
  EXPECT_THROW(v->knob_set("engine_weight", "0"), Error);
  v->knob_set("priority", "background");
  EXPECT_EQ(v->knob_get("priority"), "background");
}

TEST_F(CoreIntegration, SaveRestoreThroughTheCore) {
  const std::string uuid = "11111111-2222-4333-8444-000000000002";
  auto [fp, v, g] = start(3, uuid);
  show_mode(g, 800, 600, 0x200000);
  auto vram = fp.direct.regions().at(0)->host();
  for (size_t k = 0; k < size_t{800} * 600 * 4; ++k) vram[0x200000 + k] = static_cast<std::byte>(k * 13);
  g.wr(4, kRegRingBaseLo, 4, 0x20000);
  g.wr(4, kRegRingSize, 4, 64);
  std::stringstream image;
  v->save(image);
  std::vector<uint64_t> regs;
  for (uint16_t r = 0; r < 0xb; ++r) regs.push_back(dispi_read(g, r));
  for (uint32_t r = 0; r <= kRegLastRegister; r += 4) regs.push_back(g.rd(4, r, 4));
  std::vector<uint8_t> png_before;
  ASSERT_TRUE(with_device(uuid, [&](SimgpuDevice& d) { png_before = screenshot_png(d); }));
  v->stop();
  manager_->destroy_vgpu(uuid);

  auto& fp2 = platform(4);
  auto v2 = make(fp2, uuid, "simgpu-16");
  v2->restore(image);
  v2->start();
  BusGuest g2{manager_->bus(Domid{4})};
  std::vector<uint64_t> regs2;
  for (uint16_t r = 0; r < 0xb; ++r) regs2.push_back(dispi_read(g2, r));
  for (uint32_t r = 0; r <= kRegLastRegister; r += 4) regs2.push_back(g2.rd(4, r, 4));
  EXPECT_EQ(regs, regs2) << "registers and engine state come back (config space too: BARs still decode)";
  std::vector<uint8_t> png_after;
  ASSERT_TRUE(with_device(uuid, [&](SimgpuDevice& d) { png_after = screenshot_png(d); }));
  EXPECT_EQ(decode_png(png_before).rgb, decode_png(png_after).rgb) << "VRAM comes back";
}

// A guest saved while its engine works: every job submitted before the save completes (with its
// MSI) before the image is taken, none runs again after the restore, and the ring goes on where
// it was.
TEST_F(CoreIntegration, RestoreInTheMiddleOfEngineWorkLosesAndRepeatsNoJob) {
  constexpr uint32_t kJobs = 48;
  constexpr uint64_t kRing = 0x10000;
  constexpr uint64_t kSrc = 0x100000;
  const std::string uuid = "11111111-2222-4333-8444-000000000003";
  auto [fp, v, g] = start(3, uuid);
  g.enumerate();
  auto src = fp.memory.bytes(kSrc, kJobs * 4096);
  for (size_t k = 0; k < src.size(); ++k) src[k] = static_cast<std::byte>(k * 11 + 5);
  g.wr(4, kRegRingBaseLo, 4, kRing);
  g.wr(4, kRegRingSize, 4, 64);
  g.wr(4, kRegIrqMask, 4, kIrqCompletion | kIrqError);
  g.wr(4, kRegControl, 4, kControlEnable);
  for (uint32_t k = 0; k <= kJobs; ++k) {  // one more, submitted after the restore
    const auto d = copy_to_vram(kSrc + uint64_t{k % kJobs} * 4096, uint64_t{k} * 4096, 4096, k + 1);
    std::memcpy(fp.memory.bytes(kRing + k * kDescriptorSize, kDescriptorSize).data(), &d, kDescriptorSize);
  }
  g.wr(4, kRegDoorbell, 4, kJobs);
  std::stringstream image;
  v->save(image);  // while the jobs run on the instance's worker
  EXPECT_EQ(g.rd(4, kRegFence, 4), kJobs) << "every job submitted before the save completed first";
  ASSERT_TRUE(fp.interrupts.wait_for_msis(kJobs));
  EXPECT_EQ(fp.interrupts.msi_count(), kJobs) << "each with its MSI, once";
  auto vram = fp.direct.regions().at(0)->host();
  EXPECT_EQ(checksum(vram.data(), kJobs * 4096), checksum(src.data(), src.size()));
  v->stop();
  manager_->destroy_vgpu(uuid);

  // The restore side: Xen carries guest RAM (here copied by hand), the image carries the rest.
  auto& fp2 = platform(4);
  std::memcpy(fp2.memory.bytes(kRing, 64 * kDescriptorSize).data(),
              fp.memory.bytes(kRing, 64 * kDescriptorSize).data(), 64 * kDescriptorSize);
  std::memcpy(fp2.memory.bytes(kSrc, kJobs * 4096).data(), src.data(), src.size());
  auto v2 = make(fp2, uuid, "simgpu-16");
  v2->restore(image);
  v2->start();
  BusGuest g2{manager_->bus(Domid{4})};
  EXPECT_EQ(g2.rd(4, kRegFence, 4), kJobs);
  EXPECT_EQ(g2.rd(4, kRegStatus, 4) & kStatusBusy, 0u);
  auto vram2 = fp2.direct.regions().at(0)->host();
  EXPECT_EQ(checksum(vram2.data(), kJobs * 4096), checksum(src.data(), src.size())) << "VRAM came back";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(fp2.interrupts.msi_count(), 0u) << "no job ran again after the restore";
  g2.wr(4, kRegDoorbell, 4, kJobs + 1);
  ASSERT_TRUE(fp2.interrupts.wait_for_msis(1)) << "the restored MSI set-up is the vendor's too";
  for (int k = 0; k < 2000 && g2.rd(4, kRegFence, 4) != kJobs + 1; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(g2.rd(4, kRegFence, 4), kJobs + 1) << "the ring goes on where it was";
  EXPECT_EQ(fp2.interrupts.msi_count(), 1u);
  EXPECT_EQ(checksum(vram2.data() + uint64_t{kJobs} * 4096, 4096), checksum(src.data(), 4096));
}

TEST_F(CoreIntegration, LegacyVgaAndVbePortsFollowIoDecode) {
  auto [fp, v, g] = start(4, "44444444-2222-4333-8444-555555555555");
  g.enumerate();  // memory decode only
  const auto claimed = [&claims = fp.claims](uint64_t first, uint64_t last) {
    return claims.ranges().contains({gpu::IoSpace::Port, first, last});
  };
  EXPECT_FALSE(claimed(0x3c0, 0x3df)) << "no I/O decode, no legacy ports";
  EXPECT_EQ(g.in(0x1ce, 2), 0xffffu);

  g.cfg_write(0x04, 2, 0x0007);  // + I/O decode
  EXPECT_TRUE(claimed(0x3c0, 0x3df));
  EXPECT_TRUE(claimed(0x1ce, 0x1d0));
  // The Bochs VBE protocol: 16-bit index at 0x1ce, 16-bit data at the odd port 0x1cf.
  g.out(0x1ce, 2, 0);  // ID
  EXPECT_EQ(g.in(0x1cf, 2), g.rd(2, 0x500, 2)) << "the same DISPI ID as the MMIO BAR";
  EXPECT_EQ(g.in(0x1ce, 2), 0u);
  g.out(0x1ce, 2, 1);  // XRES
  g.out(0x1cf, 2, 800);
  g.out(0x1ce, 2, 2);  // YRES
  g.out(0x1cf, 2, 600);
  EXPECT_EQ(g.rd(2, 0x502, 2), 800u);
  EXPECT_EQ(g.rd(2, 0x504, 2), 600u);
  EXPECT_EQ(g.in(0x1cf, 1), 0xffu) << "byte access to the data port is refused";
  // VGA DAC through the ports, read back through the MMIO mirror.
  g.out(0x3c8, 1, 5);
  for (const uint64_t c : {10u, 20u, 30u}) g.out(0x3c9, 1, c);
  g.wr(2, 0x407, 1, 5);
  EXPECT_EQ(g.rd(2, 0x409, 1), 10u);
  EXPECT_EQ(g.in(0x3c9, 1), 20u);
  EXPECT_EQ(g.in(0x3c9, 1), 30u);

  // A second simgpu in the same guest cannot decode the same legacy ports: refused and counted.
  const Sbdf second_sbdf{0, 0, 6, 0};
  auto second = make(fp, "44444444-2222-4333-8444-666666666666", "simgpu-16", second_sbdf);
  second->start();
  BusGuest g2{manager_->bus(Domid{4}), second_sbdf};
  g2.cfg_write(0x04, 2, 0x0001);  // I/O decode only, no BARs placed
  EXPECT_GE(counter(*second, "core.unmapped_bars"), 2u);
  g.out(0x1ce, 2, 1);
  EXPECT_EQ(g.in(0x1cf, 2), 800u) << "the first device still owns the ports";

  g.cfg_write(0x04, 2, 0x0006);  // I/O decode off again
  EXPECT_FALSE(claimed(0x3c0, 0x3df));
  EXPECT_FALSE(claimed(0x1ce, 0x1d0));
  EXPECT_EQ(g.in(0x1cf, 2), 0xffffu);
  EXPECT_EQ(fp.claims.violations(), 0u);
}

// The core's side of vendor ABI 1.1's legacy ranges: what it refuses, and a 1.0-sized layout
// (a plugin built before them) that simply has none.
TEST(LegacyIoDescriptors, ValidatedAndAbsentForAbi10Layouts) {
  gpu::DeviceLayout l;
  l.vendor_id = 0x1234;
  const auto refused = [&](std::vector<gpu::LegacyIoLayout> ranges, const char* why) {
    l.legacy_io = std::move(ranges);
    try {
      gpu::validate_layout(l);
      ADD_FAILURE() << "accepted: " << why;
    } catch (const gpu::VendorAbiError& e) {
      SCOPED_TRACE(e.what());
    }
  };
  refused({{0x3c0, 0, 1, 2, false}}, "no ports");
  refused({{0xfff0, 32, 1, 2, false}}, "beyond port 0xffff");
  refused({{0x3c0, 300, 1, 2, false}}, "more than 256 ports");
  refused({{0x3c0, 32, 2, 1, false}}, "min > max");
  refused({{0x3c0, 32, 1, 8, false}}, "8-byte port access");
  refused({{0x3c0, 32, 1, 2, false}, {0x3d0, 4, 1, 2, false}}, "overlapping ranges");
  refused(std::vector<gpu::LegacyIoLayout>(9, gpu::LegacyIoLayout{0x100, 1, 1, 1, false}), "more than 8");
  l.legacy_io = {{0x3c0, 32, 1, 2, false}, {0x1ce, 3, 1, 2, true}};
  EXPECT_NO_THROW(gpu::validate_layout(l));

  // A plugin built against ABI 1.0 declares the shorter layout: accepted, no legacy ports.
  const xvgpu_bar_desc bar = {XVGPU_INIT(xvgpu_bar_desc), 0, 4096, 0, 0, 0, {}};
  const xvgpu_bar_desc* const bars[] = {&bar};
  xvgpu_device_layout layout{};
  layout.struct_size = XVGPU_DEVICE_LAYOUT_MIN_SIZE;
  layout.vendor_id = 0x1234;
  layout.class_code = 3;
  layout.num_bars = 1;
  layout.bars = bars;
  layout.num_legacy_io = 1;  // beyond the declared size: must be ignored
  xvgpu_type_desc type{};
  type.struct_size = XVGPU_INIT(xvgpu_type_desc);
  type.name = "old";
  type.layout = &layout;
  const xvgpu_type_desc* const types[] = {&type};
  xvgpu_pgpu_desc pgpu{};
  pgpu.struct_size = XVGPU_INIT(xvgpu_pgpu_desc);
  pgpu.name = "old0";
  pgpu.num_types = 1;
  pgpu.types = types;
  const auto info = gpu::import_pgpu(&pgpu, "oldvendor");
  ASSERT_EQ(info.types.size(), 1u);
  EXPECT_TRUE(info.types[0].layout.legacy_io.empty());
  // The same layout at full size with a bad range is refused by name.
  xvgpu_legacy_io_desc bad = {XVGPU_INIT(xvgpu_legacy_io_desc), 0x3c0, 32, 1, 2, 0, 0x80};
  const xvgpu_legacy_io_desc* const ranges[] = {&bad};
  layout.struct_size = XVGPU_INIT(xvgpu_device_layout);
  layout.legacy_io = ranges;
  try {
    (void)gpu::import_pgpu(&pgpu, "oldvendor");
    ADD_FAILURE() << "a legacy range with unknown flags must be refused";
  } catch (const gpu::VendorAbiError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown flags"), std::string::npos) << e.what();
  }
  bad.flags = XVGPU_LEGACY_IO_UNALIGNED;
  const auto good = gpu::import_pgpu(&pgpu, "oldvendor");
  ASSERT_EQ(good.types[0].layout.legacy_io.size(), 1u);
  EXPECT_EQ(good.types[0].layout.legacy_io[0].first_port, 0x3c0);
  EXPECT_TRUE(good.types[0].layout.legacy_io[0].unaligned);
}

}  // namespace
}  // namespace xvgpu::simgpu::test

namespace xvgpu::simgpu::test {
namespace {
using namespace engine;

// The console's view (Vgpu::display_update): guest stores come from the platform's dirty log as
// rows, engine writes and mode changes from simgpu's ABI 1.2 damage reports; a screenshot in
// between takes nothing away from the console.
TEST_F(CoreIntegration, DisplayUpdateMergesGuestStoresEngineWritesAndModeChanges) {
  const std::string uuid = "11111111-2222-4333-8444-000000000003";
  auto [fp, v, g] = start(3, uuid);
  const BochsProbe p = show_mode(g, 640, 480, 0);
  auto* region = fp.direct.regions().at(0);

  gpu::DisplayUpdate u = v->display_update(0);
  ASSERT_TRUE(u.surface);
  EXPECT_TRUE(u.surface_changed) << "the mode set was reported";
  EXPECT_EQ(u.surface->width, 640u);
  u = v->display_update(0);
  EXPECT_FALSE(u.surface_changed);
  EXPECT_TRUE(u.damage.empty());

  // Page 10 holds bytes 40960..45055: rows 16 and 17 of a 2560-byte stride.
  region->touch(10);
  std::vector<uint8_t> png;
  ASSERT_TRUE(with_device(uuid, [&](SimgpuDevice& d) { png = screenshot_png(d); }));
  u = v->display_update(0);
  EXPECT_EQ(u.damage, (std::vector<gpu::Rect>{{0, 16, 640, 2}}));
  u = v->display_update(0);
  EXPECT_TRUE(u.damage.empty()) << "taken once";

  // An engine copy into rows 100..101 (VRAM offset 256000, 5120 bytes), invisible to the dirty log.
  const uint64_t ring = 0x10000;
  g.wr(4, kRegRingBaseLo, 4, ring);
  g.wr(4, kRegRingSize, 4, 16);
  g.wr(4, kRegControl, 4, kControlEnable);
  const Descriptor job = copy_to_vram(0x100000, 100 * 2560, 2 * 2560, 1);
  std::memcpy(fp.memory.bytes(ring, kDescriptorSize).data(), &job, kDescriptorSize);
  g.wr(4, kRegDoorbell, 4, 1);
  for (int k = 0; k < 2000 && g.rd(4, kRegFence, 4) != 1; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(g.rd(4, kRegFence, 4), 1u);
  u = v->display_update(0);
  EXPECT_EQ(u.damage, (std::vector<gpu::Rect>{{0, 100, 640, 2}}));

  // A mode change is reported as such, with the new surface.
  bochs_setmode(g, 800, 600, p.mem);
  u = v->display_update(0);
  EXPECT_TRUE(u.surface_changed);
  ASSERT_TRUE(u.surface);
  EXPECT_EQ(u.surface->width, 800u);
  EXPECT_EQ(u.surface->height, 600u);
}

}  // namespace
}  // namespace xvgpu::simgpu::test
