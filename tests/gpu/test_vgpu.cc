// The vGPU core end to end with the example plugin (examples/minimal-plugin) and the fake
// platform (tests/support): config space through the bus, claims, dispatch, MSI, knobs, stats,
// display, save/restore, several vGPUs per domain, life cycle.
#include "gpu/vgpu.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "gpu/vgpu_manager.h"
#include "support/fake_platform.h"
#include "support/rom_image.h"
#include "temp_dir.h"

namespace xvgpu::gpu {
namespace {

using Claims = test::FakeRangeClaims;

constexpr const char* kUuid1 = "6b1e3a40-0000-4000-8000-000000000001";
constexpr const char* kUuid2 = "6b1e3a40-0000-4000-8000-000000000002";
constexpr Sbdf kSlot5{0, 0, 5, 0};
constexpr Sbdf kSlot6{0, 0, 6, 0};
constexpr uint64_t kRegs = 0xfeb00000;
constexpr uint64_t kVram = 0xe0000000;
// Registers of the example plugin.
constexpr uint64_t kId = 0x00;
constexpr uint64_t kScratch = 0x04;
constexpr uint64_t kDoorbell = 0x08;
constexpr uint64_t kDmaAddr = 0x10;
constexpr uint64_t kDisplay = 0x18;

class VgpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m = std::make_unique<VgpuManager>(ManagerOptions{dir.path()});
    m->load_plugin(MINIMAL_PLUGIN_PATH);
  }

  std::shared_ptr<Vgpu> make(const char* uuid, Sbdf slot = kSlot5,
                             std::vector<std::pair<std::string, std::string>> params = {}, bool direct = true,
                             const char* type = "minimal-1",
                             std::shared_ptr<const ExpansionRom> rom = nullptr) {
    VgpuConfig c;
    c.rom = std::move(rom);
    c.uuid = uuid;
    c.type = type;
    c.sbdf = slot;
    c.params = std::move(params);
    c.vm_uuid = "0e3c3d2a-1111-4222-8333-444455556666";
    c.vm_name = "guest-a";
    return m->create_vgpu(c, fp.platform(direct));
  }

  IoHandler& bus() { return m->bus(fp.domid); }
  uint64_t cfg_read(Sbdf s, unsigned off, uint8_t size) {
    return bus().read(IoAccess{AddressSpace::PciConfig, off, s, size, VcpuId{0}});
  }
  void cfg_write(Sbdf s, unsigned off, uint8_t size, uint64_t v) {
    bus().write(IoAccess{AddressSpace::PciConfig, off, s, size, VcpuId{0}}, v);
  }
  uint64_t mmio_read(uint64_t addr, uint8_t size) {
    return bus().read(IoAccess{AddressSpace::Mmio, addr, {}, size, VcpuId{1}});
  }
  void mmio_write(uint64_t addr, uint8_t size, uint64_t v) {
    bus().write(IoAccess{AddressSpace::Mmio, addr, {}, size, VcpuId{1}}, v);
  }
  // What a BIOS / guest kernel does: place BARs, then enable memory decode and bus mastering.
  void program(Sbdf s, uint64_t regs = kRegs, uint64_t vram = kVram) {
    cfg_write(s, 0x10, 4, regs);
    cfg_write(s, 0x18, 4, static_cast<uint32_t>(vram));
    cfg_write(s, 0x1c, 4, vram >> 32);
    cfg_write(s, 0x04, 2, 0x6);
  }
  // The snapshot of a stopped vGPU kUuid1 at kSlot5 with its scratch register and one VRAM byte
  // set; the vGPU is destroyed afterwards, so another can take the slot.
  std::string saved_image(uint32_t scratch, size_t vram_at, std::byte vram_value) {
    auto a = make(kUuid1);
    a->start();
    program(kSlot5);
    mmio_write(kRegs + kScratch, 4, scratch);
    fp.direct.regions()[0]->host()[vram_at] = vram_value;
    a->stop();
    std::stringstream snap;
    a->save(snap);
    m->destroy_vgpu(kUuid1);
    return snap.str();
  }
  void enable_msi(Sbdf s) {
    cfg_write(s, 0x44, 4, 0xfee00000);
    cfg_write(s, 0x48, 4, 0);
    cfg_write(s, 0x4c, 2, 0x0031);
    cfg_write(s, 0x42, 2, 1);
  }
  static uint64_t stat(Vgpu& v, const std::string& name) {
    for (const auto& c : v.stats()) {
      if (c.name == name) return c.value;
    }
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }
  static bool eventually(const std::function<bool()>& pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
  }

  test::TempDir dir;
  test::FakePlatform fp;
  std::unique_ptr<VgpuManager> m;
};

TEST_F(VgpuTest, StartClaimsConfigSpaceAndShowsIdentity) {
  auto v = make(kUuid1);
  EXPECT_EQ(v->state(), VgpuState::Created);
  EXPECT_EQ(cfg_read(kSlot5, 0, 4), 0xffffffffu) << "not on the bus before start";
  EXPECT_TRUE(fp.claims.pcis().empty());
  v->start();
  EXPECT_EQ(v->state(), VgpuState::Running);
  EXPECT_EQ(fp.claims.pcis(), std::set<Sbdf>{kSlot5});
  EXPECT_EQ(cfg_read(kSlot5, 0, 4), 0x10f01af4u);
  EXPECT_EQ(cfg_read(kSlot5, 0x0b, 1), 0x03u);
  EXPECT_EQ(cfg_read(kSlot6, 0, 4), 0xffffffffu) << "nothing at another slot";
}

TEST_F(VgpuTest, DecodeTogglingAndBarMovesBecomeClaimsAndPlacements) {
  auto v = make(kUuid1);
  v->start();
  cfg_write(kSlot5, 0x10, 4, kRegs);
  cfg_write(kSlot5, 0x18, 4, static_cast<uint32_t>(kVram));
  EXPECT_TRUE(fp.claims.ranges().empty()) << "decode still off";
  ASSERT_EQ(fp.direct.regions().size(), 1u);
  auto* vram = fp.direct.regions()[0];
  EXPECT_FALSE(vram->placed());

  cfg_write(kSlot5, 0x04, 2, 0x2);  // memory decode on
  EXPECT_EQ(fp.claims.ranges(), (std::set<Claims::Range>{{IoSpace::Mmio, kRegs, kRegs + 0xfff}}));
  EXPECT_EQ(vram->placed(), kVram) << "VRAM is placed, not trapped";

  // Move both BARs while decoding: released at the old place, claimed at the new one.
  fp.claims.clear_events();
  cfg_write(kSlot5, 0x10, 4, 0xfea00000);
  cfg_write(kSlot5, 0x18, 4, 0xd0000000);
  EXPECT_EQ(fp.claims.ranges(), (std::set<Claims::Range>{{IoSpace::Mmio, 0xfea00000, 0xfea00fff}}));
  const auto ev = fp.claims.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].op, Claims::Op::ReleaseRange);
  EXPECT_EQ(ev[0].first, kRegs);
  EXPECT_EQ(ev[1].op, Claims::Op::ClaimRange);
  EXPECT_EQ(ev[1].first, 0xfea00000u);
  EXPECT_EQ(vram->placed(), 0xd0000000u);
  EXPECT_EQ(mmio_read(0xfea00000 + kId, 4), 0x4d494e31u) << "accesses follow the BAR";
  EXPECT_EQ(mmio_read(kRegs + kId, 4), 0xffffffffu) << "old address no longer routed";

  // Sizing while decoding does not claim the all-ones pattern.
  cfg_write(kSlot5, 0x10, 4, 0xffffffff);
  EXPECT_TRUE(fp.claims.ranges().empty());
  EXPECT_EQ(cfg_read(kSlot5, 0x10, 4), 0xfffff000u);
  cfg_write(kSlot5, 0x10, 4, kRegs);
  EXPECT_EQ(fp.claims.ranges().size(), 1u);

  cfg_write(kSlot5, 0x04, 2, 0x0);  // decode off
  EXPECT_TRUE(fp.claims.ranges().empty());
  EXPECT_FALSE(vram->placed());
  EXPECT_EQ(vram->placements(), 2u);

  cfg_write(kSlot5, 0x04, 2, 0x2);
  v->stop();
  EXPECT_TRUE(fp.claims.ranges().empty()) << "stop releases every range";
  EXPECT_TRUE(fp.claims.pcis().empty());
  EXPECT_EQ(fp.claims.violations(), 0u);
}

TEST_F(VgpuTest, PlatformRefusingAClaimLeavesTheBarUnmapped) {
  auto v = make(kUuid1);
  v->start();
  fp.claims.fail_next_claim();
  program(kSlot5);
  EXPECT_TRUE(fp.claims.ranges().empty());
  EXPECT_EQ(stat(*v, "core.unmapped_bars"), 1u);
  // Re-programming tries again.
  cfg_write(kSlot5, 0x10, 4, 0xfea00000);
  EXPECT_EQ(fp.claims.ranges().size(), 1u);
}

TEST_F(VgpuTest, TrappedAccessesReachTheVendorWithRegionOffsets) {
  auto v = make(kUuid1);
  v->start();
  program(kSlot5);
  EXPECT_EQ(mmio_read(kRegs + kId, 4), 0x4d494e31u);
  mmio_write(kRegs + kScratch, 4, 0x12345678);
  EXPECT_EQ(mmio_read(kRegs + kScratch, 4), 0x12345678u);
  mmio_write(kRegs + kDmaAddr, 8, 0x1122334455667788);
  EXPECT_EQ(mmio_read(kRegs + kDmaAddr, 8), 0x1122334455667788u);
  EXPECT_EQ(stat(*v, "reads"), 3u);
  EXPECT_EQ(stat(*v, "writes"), 2u);
  EXPECT_EQ(stat(*v, "core.bad_accesses"), 0u);
}

TEST_F(VgpuTest, AccessesBreakingTheDispatchRuleAreRefusedWhole) {
  auto v = make(kUuid1);
  v->start();
  program(kSlot5);
  mmio_write(kRegs + kScratch, 4, 0xaabbccdd);
  // BAR0 declares 4..8 byte accesses: a 2-byte access is refused (never partially applied).
  EXPECT_EQ(mmio_read(kRegs + kScratch, 2), 0xffffu);
  mmio_write(kRegs + kScratch, 2, 0);
  EXPECT_EQ(mmio_read(kRegs + kScratch, 4), 0xaabbccddu);
  // Straddling the BAR end.
  EXPECT_EQ(mmio_read(kRegs + 0xffc, 8), ~uint64_t{0});
  EXPECT_EQ(stat(*v, "core.bad_accesses"), 3u);
  // Misaligned 8-byte read at +4: split into 4 + 4, both dispatched.
  const uint64_t before = stat(*v, "reads");
  EXPECT_EQ(mmio_read(kRegs + kScratch, 8) & 0xffffffff, 0xaabbccddu);
  EXPECT_EQ(stat(*v, "reads"), before + 2);
  // Vendor errors are counted, guest gets nothing back.
  mmio_write(kRegs + 0x100, 4, 1);
  EXPECT_EQ(stat(*v, "core.vendor_errors"), 1u);
}

TEST_F(VgpuTest, HostileConfigAccessesAreAnswered) {
  auto v = make(kUuid1);
  v->start();
  EXPECT_EQ(cfg_read(kSlot5, 0xfe, 4), 0xffffffffu) << "crosses a dword";
  EXPECT_EQ(cfg_read(kSlot5, 0x00, 3), 0xffffffu) << "odd size";
  EXPECT_EQ(cfg_read(kSlot5, 0x100, 4), 0xffffffffu) << "beyond 256 bytes";
  cfg_write(kSlot5, 0x100, 4, 0);
  cfg_write(kSlot5, 0x02, 4, 0);
  EXPECT_EQ(cfg_read(kSlot5, 0, 4), 0x10f01af4u);
  EXPECT_EQ(stat(*v, "core.bad_accesses"), 5u);
}

TEST_F(VgpuTest, DoorbellJobRunsOffThePathAndRaisesMsi) {
  auto v = make(kUuid1);
  v->start();
  program(kSlot5);
  enable_msi(kSlot5);
  mmio_write(kRegs + kDmaAddr, 8, 0x3000);
  mmio_write(kRegs + kScratch, 4, 0xcafef00d);
  mmio_write(kRegs + kDoorbell, 4, 1);
  ASSERT_TRUE(fp.interrupts.wait_for_msis(1));
  EXPECT_EQ(fp.interrupts.msis()[0], (test::RecordedMsi{0xfee00000, 0x31}));
  uint32_t got = 0;
  std::memcpy(&got, fp.memory.bytes(0x3000, 4).data(), 4);
  EXPECT_EQ(got, 0xcafef00du);
  EXPECT_EQ(fp.memory.dirty_pages().count(3), 1u) << "DMA writes are reported dirty";
  EXPECT_EQ(stat(*v, "doorbells"), 1u);
  EXPECT_TRUE(eventually([&] { return stat(*v, "core.msi_delivered") == 1; })) << "counted after injection";
}

TEST_F(VgpuTest, MaskedMsiPendsUntilTheGuestUnmasks) {
  auto v = make(kUuid1);
  v->start();
  program(kSlot5);
  enable_msi(kSlot5);
  cfg_write(kSlot5, 0x50, 4, 1);  // mask vector 0
  mmio_write(kRegs + kDmaAddr, 8, 0x3000);
  mmio_write(kRegs + kDoorbell, 4, 1);
  ASSERT_TRUE(eventually([&] { return stat(*v, "core.msi_pended") == 1; }));
  EXPECT_EQ(fp.interrupts.msi_count(), 0u);
  EXPECT_EQ(cfg_read(kSlot5, 0x54, 4), 1u) << "pending bit visible to the guest";
  cfg_write(kSlot5, 0x50, 4, 0);
  EXPECT_EQ(fp.interrupts.msi_count(), 1u);
  EXPECT_EQ(cfg_read(kSlot5, 0x54, 4), 0u);
}

TEST_F(VgpuTest, MsiWhileDisabledIsDroppedAndCounted) {
  auto v = make(kUuid1);
  v->start();
  program(kSlot5);
  mmio_write(kRegs + kDmaAddr, 8, 0x3000);
  mmio_write(kRegs + kDoorbell, 4, 1);
  ASSERT_TRUE(eventually([&] { return stat(*v, "core.msi_dropped") == 1; }));
  EXPECT_EQ(fp.interrupts.msi_count(), 0u);
}

TEST_F(VgpuTest, IntxFollowsTheLevelAndTheDisableBit) {
  auto v = make(kUuid1);
  v->start();
  EXPECT_EQ(v->svc_set_intx(true), 0);
  EXPECT_TRUE(fp.interrupts.intx(kSlot5, 0));
  EXPECT_EQ(cfg_read(kSlot5, 0x06, 2) & 0x8, 0x8u) << "interrupt status";
  cfg_write(kSlot5, 0x04, 2, 0x400);  // INTx disable
  EXPECT_FALSE(fp.interrupts.intx(kSlot5, 0));
  EXPECT_EQ(cfg_read(kSlot5, 0x06, 2) & 0x8, 0x8u) << "status still shows the device's level";
  cfg_write(kSlot5, 0x04, 2, 0);
  EXPECT_TRUE(fp.interrupts.intx(kSlot5, 0));
  v->stop();
  EXPECT_FALSE(fp.interrupts.intx(kSlot5, 0)) << "line released when detached";
}

TEST_F(VgpuTest, DmaFaultSetsReceivedMasterAbort) {
  auto v = make(kUuid1);
  v->start();
  uint8_t buf[16];
  EXPECT_EQ(v->svc_guest_read(uint64_t{1} << 40, buf, sizeof buf), -EFAULT);
  EXPECT_EQ(cfg_read(kSlot5, 0x06, 2) & 0x2000, 0x2000u);
  EXPECT_EQ(stat(*v, "core.dma_errors"), 1u);
  cfg_write(kSlot5, 0x06, 2, 0x2000);
  EXPECT_EQ(cfg_read(kSlot5, 0x06, 2) & 0x2000, 0u);
}

TEST_F(VgpuTest, ScatterGatherMappingsAreReleasedAndBounded) {
  auto v = make(kUuid1);
  v->start();
  const xvgpu_sg_entry sg[2] = {{0x1000, 0x100}, {0x8000, 0x2000}};
  xvgpu_host_segment seg[2] = {};
  xvgpu_sg_mapping* map = nullptr;
  ASSERT_EQ(v->svc_sg_map(sg, 2, true, seg, &map), 0);
  EXPECT_EQ(fp.memory.live_mappings(), 2u);
  EXPECT_EQ(seg[1].len, 0x2000u);
  std::memset(seg[1].host, 0x5a, 16);
  EXPECT_EQ(std::to_integer<int>(fp.memory.bytes(0x8000, 1)[0]), 0x5a);
  v->svc_sg_release(map);
  EXPECT_EQ(fp.memory.live_mappings(), 0u);
  const xvgpu_sg_entry bad[1] = {{uint64_t{1} << 40, 0x1000}};
  EXPECT_EQ(v->svc_sg_map(bad, 1, false, seg, &map), -EFAULT);
  EXPECT_EQ(v->svc_sg_map(sg, 0, false, seg, &map), -EINVAL);
  // A mapping the vendor forgets is released at destroy.
  ASSERT_EQ(v->svc_sg_map(sg, 1, false, seg, &map), 0);
  m->destroy_vgpu(kUuid1);
  EXPECT_EQ(fp.memory.live_mappings(), 0u);
}

TEST_F(VgpuTest, KnobsAreValidatedThenOfferedToTheVendor) {
  auto v = make(kUuid1, kSlot5, {{"weight", "5"}});
  EXPECT_EQ(v->knob_get("weight"), "5");
  EXPECT_EQ(v->knob_get("priority"), "background");
  v->knob_set("priority", "foreground");
  EXPECT_EQ(v->knob_get("priority"), "foreground");
  try {
    v->knob_set("weight", "0");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid value '0' for knob 'weight': expected an integer in 1..100");
  }
  try {
    v->knob_set("weight", "42");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight 42 is reserved"), std::string::npos) << e.what();
  }
  EXPECT_EQ(v->knob_get("weight"), "5") << "a refused set changes nothing";
  EXPECT_THROW(v->knob_set("nope", "1"), Error);
}

TEST_F(VgpuTest, CreationParametersAreChecked) {
  try {
    make(kUuid1, kSlot5, {{"priority", "foreground"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("unknown parameter 'priority' for vGPU type minimal-1; accepted: weight"),
        std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make(kUuid1, kSlot5, {{"weight", "500"}}), Error);
  EXPECT_THROW(make(kUuid1, kSlot5, {{"weight", "2"}, {"weight", "3"}}), Error);
  EXPECT_TRUE(m->accounting().list().empty()) << "nothing reserved by failed creations";
}

TEST_F(VgpuTest, DisplaySurfaceComesFromDirectVram) {
  auto v = make(kUuid1);
  v->start();
  program(kSlot5);
  EXPECT_FALSE(v->display_surface(0).has_value()) << "head off";
  mmio_write(kRegs + kDisplay, 4, 1);
  auto vram = fp.direct.regions()[0]->host();
  for (size_t i = 0; i < 64 * 64 * 4; ++i) vram[i] = static_cast<std::byte>(i * 7);
  const auto s = v->display_surface(0);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->width, 64u);
  EXPECT_EQ(s->stride, 256u);
  EXPECT_EQ(s->bytes_per_pixel, 4u);
  ASSERT_EQ(s->pixels.size(), 64u * 256u);
  EXPECT_EQ(s->pixels.data(), vram.data());
  EXPECT_EQ(std::to_integer<int>(s->pixels[100]), 100 * 7 % 256);
}

TEST_F(VgpuTest, WithoutDirectMemoryVramIsTrappedPlainMemory) {
  auto v = make(kUuid1, kSlot5, {}, /*direct=*/false);
  v->start();
  program(kSlot5);
  EXPECT_EQ(fp.claims.ranges(), (std::set<Claims::Range>{{IoSpace::Mmio, kRegs, kRegs + 0xfff},
                                                         {IoSpace::Mmio, kVram, kVram + 0xffff}}));
  mmio_write(kVram + 8, 8, 0x0102030405060708);
  mmio_write(kVram + 3, 2, 0xbeef);  // any size and alignment: it is memory
  EXPECT_EQ(mmio_read(kVram + 8, 4), 0x05060708u);
  EXPECT_EQ(mmio_read(kVram + 3, 2), 0xbeefu);
  mmio_write(kRegs + kDisplay, 4, 1);
  const auto s = v->display_surface(0);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(std::to_integer<int>(s->pixels[8]), 0x08);
}

TEST_F(VgpuTest, SaveAndRestoreIntoAFreshInstance) {
  auto a = make(kUuid1, kSlot5, {{"weight", "7"}});
  a->start();
  program(kSlot5);
  enable_msi(kSlot5);
  mmio_write(kRegs + kScratch, 4, 0x600df00d);
  auto vram = fp.direct.regions()[0]->host();
  vram[1234] = std::byte{0x42};
  a->stop();
  std::stringstream snap;
  a->save(snap);
  m->destroy_vgpu(kUuid1);
  EXPECT_TRUE(fp.claims.ranges().empty());

  auto b = make(kUuid2, kSlot5);
  snap.seekg(0);
  b->restore(snap);
  EXPECT_EQ(b->knob_get("weight"), "7");
  b->start();
  EXPECT_EQ(fp.claims.ranges().size(), 1u) << "restored decode and BARs are claimed at start";
  EXPECT_EQ(mmio_read(kRegs + kScratch, 4), 0x600df00du);
  EXPECT_EQ(cfg_read(kSlot5, 0x42, 2) & 1, 1u) << "MSI still enabled";
  ASSERT_EQ(fp.direct.regions().size(), 1u);
  EXPECT_EQ(fp.direct.regions()[0]->host()[1234], std::byte{0x42});
  EXPECT_EQ(fp.direct.regions()[0]->placed(), kVram);
}

TEST_F(VgpuTest, RestoreRefusesForeignOrTruncatedSnapshots) {
  auto a = make(kUuid1);
  std::stringstream snap;
  a->save(snap);
  const std::string bytes = snap.str();
  auto b = make(kUuid2, kSlot6, {}, true, "minimal-2");
  std::stringstream s1(bytes);
  try {
    b->restore(s1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("snapshot of a minimal/minimal-1 vGPU cannot be restored"),
              std::string::npos)
        << e.what();
  }
  m->destroy_vgpu(kUuid2);
  auto c = make(kUuid2, kSlot6);
  std::stringstream s2(bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(c->restore(s2), Error);
  std::stringstream s3("garbage");
  EXPECT_THROW(c->restore(s3), Error);
}

// The refusal's message, or "" when restore accepted the bytes.
std::string restore_refusal(Vgpu& v, const std::string& bytes) {
  std::stringstream in(bytes);
  try {
    v.restore(in);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(VgpuTest, SnapshotRoundTripKeepsEveryField) {
  auto a = make(kUuid1, kSlot5, {{"weight", "9"}});
  a->start();
  program(kSlot5);
  enable_msi(kSlot5);
  mmio_write(kRegs + kScratch, 4, 0x12345678);
  auto vram = fp.direct.regions()[0]->host();
  for (size_t k = 0; k < vram.size(); k += 4093) vram[k] = static_cast<std::byte>(k * 7);
  a->stop();
  std::stringstream snap;
  a->save(snap);
  const std::string image = snap.str();
  m->destroy_vgpu(kUuid1);

  auto b = make(kUuid2, kSlot5);
  EXPECT_EQ(restore_refusal(*b, image), "");
  std::stringstream again;
  b->save(again);
  // Config space, INTx level, VRAM and the vendor's state (knobs, registers) all came back:
  // the restored vGPU saves the very same bytes.
  EXPECT_EQ(again.str(), image);
  EXPECT_EQ(b->knob_get("weight"), "9");
}

TEST_F(VgpuTest, SnapshotOfAnotherFormatTruncatedOrCorruptIsRefusedWithTheReason) {
  const std::string image = saved_image(0xa5a5a5a5, 100, std::byte{0x77});
  auto b = make(kUuid2, kSlot5);
  b->start();
  program(kSlot5);
  mmio_write(kRegs + kScratch, 4, 0x11111111);
  b->stop();
  auto vram_b = fp.direct.regions()[0]->host();
  vram_b[100] = std::byte{0x01};
  const std::string weight_b = b->knob_get("weight");
  const auto unchanged = [&] {
    return fp.direct.regions()[0]->host()[100] == std::byte{0x01} && b->knob_get("weight") == weight_b;
  };
  const auto has = [](const std::string& what, const char* text) {
    return what.find(text) != std::string::npos;
  };

  std::string other = image;
  other[8] = 1;  // the format field follows the 8-byte magic
  EXPECT_TRUE(has(restore_refusal(*b, other),
                  "vGPU snapshot format 1 is not supported (this xvgpu reads formats 2 to 3)"));
  other = image;
  other[0] = 'Y';
  EXPECT_TRUE(has(restore_refusal(*b, other), "not a vGPU snapshot"));

  // Cut anywhere (every byte of the header, then a spread through VRAM, vendor state, checksum).
  std::vector<size_t> cuts;
  for (size_t n = 0; n < 320; ++n) cuts.push_back(n);
  for (size_t n = 320; n < image.size(); n += image.size() / 97 + 1) cuts.push_back(n);
  cuts.push_back(image.size() - 1);
  for (const size_t n : cuts) {
    const std::string why = restore_refusal(*b, image.substr(0, n));
    ASSERT_TRUE(has(why, "vGPU snapshot is truncated") || (n < 8 && has(why, "not a vGPU snapshot")))
        << "cut at " << n << ": " << why;
  }
  EXPECT_TRUE(has(restore_refusal(*b, image.substr(0, image.size() - 2)), "truncated: the checksum ends"));
  EXPECT_TRUE(has(restore_refusal(*b, image.substr(0, 20)), "truncated: the vendor name ends"));
  other = image;
  other[297] = 7;  // the direct BAR's index (low byte)
  EXPECT_TRUE(has(restore_refusal(*b, other), "has a direct BAR 7 of"));
  other = image;
  other[309] = 9;  // where the BAR's contents are
  EXPECT_TRUE(has(restore_refusal(*b, other), "direct BAR 2 contents marker 9"));

  // One flipped bit in what is not checked against the vGPU itself (config space at 36.., VRAM
  // from 310, the vendor's state at the end): the checksum tells.
  for (const size_t at : {size_t{100}, size_t{310} + 100, image.size() / 2, image.size() - 20}) {
    std::string bad = image;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    EXPECT_TRUE(has(restore_refusal(*b, bad), "vGPU snapshot is corrupt: checksum")) << "flip at " << at;
  }
  EXPECT_TRUE(unchanged()) << "a refused snapshot changes nothing";
  EXPECT_EQ(restore_refusal(*b, image), "");
  EXPECT_EQ(fp.direct.regions()[0]->host()[100], std::byte{0x77});
}

// Where the hypervisor saves the guest's memory with the VRAM pages in it (Xen's VRAM pool), the
// snapshot does not carry them a second time, and restore leaves the restored pages alone.
TEST_F(VgpuTest, SnapshotLeavesVramToTheGuestsSavedMemory) {
  auto a = make(kUuid1);
  a->start();
  program(kSlot5);
  mmio_write(kRegs + kScratch, 4, 0x0badcafe);
  a->stop();
  std::stringstream stored;
  a->save(stored);
  fp.direct.saved_with_guest = true;
  std::stringstream left;
  a->save(left);
  const uint64_t vram = fp.direct.regions()[0]->host().size();
  EXPECT_EQ(stored.str().size() - left.str().size(), vram) << "the same but for the VRAM";
  m->destroy_vgpu(kUuid1);

  auto b = make(kUuid2, kSlot5);
  fp.direct.regions()[0]->host()[77] = std::byte{0x99};  // the guest's restored page
  EXPECT_EQ(restore_refusal(*b, left.str()), "");
  EXPECT_EQ(fp.direct.regions()[0]->host()[77], std::byte{0x99}) << "restore did not write VRAM";
  b->start();
  EXPECT_EQ(mmio_read(kRegs + kScratch, 4), 0x0badcafeu);
  b->stop();
  m->destroy_vgpu(kUuid2);

  // Such a snapshot cannot go where the VRAM is not the guest's memory: nothing would hold it.
  fp.direct.saved_with_guest = false;
  auto c = make(kUuid2, kSlot5);
  const std::string why = restore_refusal(*c, left.str());
  EXPECT_NE(
      why.find("leaves direct BAR 2's contents to the guest's saved memory, but this vGPU's BAR 2 is not "
               "in the guest's memory"),
      std::string::npos)
      << why;
}

// Format 2 (every BAR's contents stored, no marker) is still read.
TEST_F(VgpuTest, SnapshotOfFormat2IsRestored) {
  std::string image = saved_image(0x22222222, 5, std::byte{0x2f});
  ASSERT_EQ(image[8], 3);
  ASSERT_EQ(image[309], 0) << "contents stored";
  image.erase(309, 1);
  image[8] = 2;
  image.resize(image.size() - 4);
  const auto crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(image.data()), static_cast<uInt>(image.size())));
  image.append(reinterpret_cast<const char*>(&crc), sizeof crc);
  auto b = make(kUuid2, kSlot5);
  EXPECT_EQ(restore_refusal(*b, image), "");
  EXPECT_EQ(fp.direct.regions()[0]->host()[5], std::byte{0x2f});
  b->start();
  EXPECT_EQ(mmio_read(kRegs + kScratch, 4), 0x22222222u);
}

TEST_F(VgpuTest, LifeCycleThroughTheApi) {
  auto v = make(kUuid1);
  EXPECT_THROW(v->stop(), VgpuStateError);
  v->start();
  EXPECT_THROW(v->start(), VgpuStateError);
  EXPECT_THROW(v->destroy(), VgpuStateError);
  program(kSlot5);
  mmio_write(kRegs + kScratch, 4, 5);
  v->reset();
  EXPECT_EQ(v->state(), VgpuState::Running);
  EXPECT_EQ(cfg_read(kSlot5, 0x04, 2), 0u) << "reset clears the command register";
  EXPECT_TRUE(fp.claims.ranges().empty()) << "and so releases the BARs";
  program(kSlot5);
  EXPECT_EQ(mmio_read(kRegs + kScratch, 4), 0u) << "vendor reset too";
  v->stop();
  EXPECT_EQ(mmio_read(kRegs + kScratch, 4), 0xffffffffu) << "stopped: not on the bus";
  v->start();
  EXPECT_EQ(mmio_read(kRegs + kScratch, 4), 0u) << "BARs come back at start";
  v->stop();
  v->destroy();
  EXPECT_EQ(v->state(), VgpuState::Destroyed);
  try {
    v->start();
    FAIL();
  } catch (const VgpuStateError& e) {
    EXPECT_NE(std::string(e.what()).find("it is destroyed"), std::string::npos) << e.what();
  }
}

TEST_F(VgpuTest, VendorRefusalKeepsTheState) {
  // The example vendor refuses to serve dom0.
  test::FakePlatform dom0(Domid{0});
  VgpuConfig c;
  c.uuid = kUuid1;
  c.type = "minimal-1";
  auto v = m->create_vgpu(c, dom0.platform());
  try {
    v->start();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vendor minimal refused to start vGPU " + std::string(kUuid1) +
                                         ": minimal vGPUs do not serve dom0"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(v->state(), VgpuState::Created);
  EXPECT_TRUE(dom0.claims.pcis().empty());
  m->destroy_vgpu(kUuid1);
}

TEST_F(VgpuTest, SeveralVgpusPerDomainAtDistinctSlots) {
  auto a = make(kUuid1, kSlot5);
  auto b = make(kUuid2, kSlot6);
  a->start();
  b->start();
  program(kSlot5, 0xfeb00000, 0xe0000000);
  program(kSlot6, 0xfeb01000, 0xe0010000);
  mmio_write(0xfeb00000 + kScratch, 4, 0xa);
  mmio_write(0xfeb01000 + kScratch, 4, 0xb);
  EXPECT_EQ(mmio_read(0xfeb00000 + kScratch, 4), 0xau);
  EXPECT_EQ(mmio_read(0xfeb01000 + kScratch, 4), 0xbu);
  EXPECT_EQ(fp.claims.pcis().size(), 2u);
  // A third at an occupied slot is refused before anything is reserved.
  try {
    make("6b1e3a40-0000-4000-8000-000000000003", kSlot5);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("PCI slot 0000:00:05.0 of domain 1 is already used"),
              std::string::npos)
        << e.what();
  }
  // Overlapping BARs of two vGPUs: the second stays unmapped (the first keeps its range).
  cfg_write(kSlot6, 0x10, 4, 0xfeb00000);
  EXPECT_EQ(mmio_read(0xfeb00000 + kScratch, 4), 0xau);
  EXPECT_EQ(stat(*b, "core.unmapped_bars"), 1u);
}

TEST_F(VgpuTest, CapacityAndUuidUniqueness) {
  std::vector<std::shared_ptr<Vgpu>> made;
  for (int i = 0; i < 4; ++i) {
    made.push_back(
        make(fmt::format("6b1e3a40-0000-4000-8000-00000000010{}", i).c_str(), Sbdf{0, 0, uint8_t(8 + i), 0}));
  }
  try {
    make("6b1e3a40-0000-4000-8000-000000000199", Sbdf{0, 0, 20, 0});
    FAIL();
  } catch (const NoCapacityError& e) {
    EXPECT_NE(std::string(e.what()).find("resource 'slots': 4 of 4 in use"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make("6b1e3a40-0000-4000-8000-000000000100", Sbdf{0, 0, 21, 0}), UuidInUseError);
  m->destroy_vgpu("6b1e3a40-0000-4000-8000-000000000102");
  EXPECT_NO_THROW(make("6b1e3a40-0000-4000-8000-000000000199", Sbdf{0, 0, 20, 0}));
  const auto gpus = m->physical_gpus();
  EXPECT_EQ(gpus[0].types[0].available, 0u);
}

TEST_F(VgpuTest, DestroyReleasesEverything) {
  auto v = make(kUuid1);
  v->start();
  program(kSlot5);
  EXPECT_EQ(m->accounting().list().size(), 1u);
  EXPECT_EQ(fp.direct.live(), 1u);
  m->destroy_vgpu(kUuid1);  // stops it first
  EXPECT_EQ(v->state(), VgpuState::Destroyed);
  EXPECT_TRUE(m->accounting().list().empty());
  EXPECT_EQ(fp.direct.live(), 0u);
  EXPECT_TRUE(fp.claims.ranges().empty());
  EXPECT_TRUE(fp.claims.pcis().empty());
  EXPECT_EQ(fp.claims.violations(), 0u);
  EXPECT_EQ(m->find(kUuid1), nullptr);
}

TEST_F(VgpuTest, ManagerTeardownStopsRunningVgpus) {
  auto v = make(kUuid1);
  v->start();
  program(kSlot5);
  v.reset();
  m.reset();
  EXPECT_TRUE(fp.claims.ranges().empty());
  EXPECT_TRUE(fp.claims.pcis().empty());
  EXPECT_EQ(fp.direct.live(), 0u);
  VgpuManager again(ManagerOptions{dir.path()});
  EXPECT_TRUE(again.accounting().list().empty());
}

TEST_F(VgpuTest, UnknownTypeListsKnownOnes) {
  try {
    make(kUuid1, kSlot5, {}, true, "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown vGPU type 'nope'; known types: minimal/minimal-1, minimal/minimal-2");
  }
  EXPECT_NO_THROW(make(kUuid1, kSlot5, {}, true, "minimal/minimal-1"));
}

TEST_F(VgpuTest, DomainInfoReachesTheVendor) {
  auto v = make(kUuid1, Sbdf{0, 0, 7, 1});
  xvgpu_domain_info info{};
  info.struct_size = sizeof info;
  EXPECT_EQ(v->svc_domain_info(&info), -ENODEV) << "not started";
  v->start();
  ASSERT_EQ(v->svc_domain_info(&info), 0);
  EXPECT_EQ(info.domid, 1);
  EXPECT_EQ(info.pci_devfn, 7 << 3 | 1);
  EXPECT_STREQ(info.vm_uuid, "0e3c3d2a-1111-4222-8333-444455556666");
  EXPECT_STREQ(info.vgpu_uuid, kUuid1);
  EXPECT_STREQ(info.vm_name, "guest-a");
  // A vendor built against an older, smaller struct only gets its part.
  xvgpu_domain_info small{};
  small.struct_size = offsetof(xvgpu_domain_info, vm_uuid);
  std::memset(small.vm_uuid, 0x7f, sizeof small.vm_uuid);
  ASSERT_EQ(v->svc_domain_info(&small), 0);
  EXPECT_EQ(small.domid, 1);
  EXPECT_EQ(small.vm_uuid[0], 0x7f) << "nothing written beyond its struct_size";
}

TEST_F(VgpuTest, ExpansionRomIsReadOnlyMemoryWhileEnabledAndDecoded) {
  const auto image = test::make_rom_image(0x1af4, 0x10f0, 5);  // the example plugin's IDs; 2.5 KiB
  auto v = make(kUuid1, kSlot5, {}, true, "minimal-1", std::make_shared<const ExpansionRom>(image));
  v->start();
  constexpr uint64_t kRom = 0xfe000000;
  cfg_write(kSlot5, 0x30, 4, 0xfffff800);
  EXPECT_EQ(cfg_read(kSlot5, 0x30, 4), 0xfffff000u) << "4 KiB ROM BAR";
  program(kSlot5);
  cfg_write(kSlot5, 0x30, 4, kRom);
  EXPECT_EQ(fp.claims.ranges().count({IoSpace::Mmio, kRom, kRom + 0xfff}), 0u) << "enable bit clear";
  EXPECT_EQ(mmio_read(kRom, 2), 0xffffu) << "not routed";

  cfg_write(kSlot5, 0x30, 4, kRom | 1);
  EXPECT_EQ(fp.claims.ranges().count({IoSpace::Mmio, kRom, kRom + 0xfff}), 1u) << "claimed as MMIO";
  EXPECT_EQ(mmio_read(kRom, 2), 0xaa55u);
  EXPECT_EQ(mmio_read(kRom + 0x203, 1), image[0x203]);
  uint64_t want8 = 0;
  for (unsigned i = 0; i < 8; ++i)
    want8 |= uint64_t{0x9fc + i < image.size() ? image[0x9fc + i] : 0xffu} << (8 * i);
  EXPECT_EQ(mmio_read(kRom + 0x9fc, 8), want8) << "across the image's end: the rest reads erased";
  EXPECT_EQ(mmio_read(kRom + 0xffc, 4), 0xffffffffu) << "past the image, inside the BAR";
  const uint64_t reads = stat(*v, "core.rom_reads");
  EXPECT_EQ(reads, 4u);

  // Hostile writes change nothing and reach no vendor.
  mmio_write(kRom, 4, 0);
  mmio_write(kRom + 0x203, 1, 0xee);
  mmio_write(kRom + 0xff8, 8, 0);
  EXPECT_EQ(mmio_read(kRom, 2), 0xaa55u);
  EXPECT_EQ(mmio_read(kRom + 0x203, 1), image[0x203]);
  EXPECT_EQ(stat(*v, "core.vendor_errors"), 0u);

  cfg_write(kSlot5, 0x30, 4, 0xffffffff);  // sizing with the enable bit set: unmapped
  EXPECT_EQ(fp.claims.ranges().count({IoSpace::Mmio, kRom, kRom + 0xfff}), 0u);
  cfg_write(kSlot5, 0x30, 4, kRom | 1);
  cfg_write(kSlot5, 0x04, 2, 0x0);  // memory decode off releases it
  EXPECT_EQ(fp.claims.ranges().count({IoSpace::Mmio, kRom, kRom + 0xfff}), 0u);
  cfg_write(kSlot5, 0x04, 2, 0x2);
  EXPECT_EQ(fp.claims.ranges().count({IoSpace::Mmio, kRom, kRom + 0xfff}), 1u);
  v->stop();
  EXPECT_TRUE(fp.claims.ranges().empty());
  EXPECT_EQ(fp.claims.violations(), 0u);
}

TEST_F(VgpuTest, ExpansionRomOverlappingABarIsRefusedNotMapped) {
  auto v = make(kUuid1, kSlot5, {}, true, "minimal-1",
                std::make_shared<const ExpansionRom>(test::make_rom_image(0x1af4, 0x10f0)));
  v->start();
  program(kSlot5);
  cfg_write(kSlot5, 0x30, 4, kRegs | 1);  // on top of the register BAR
  EXPECT_EQ(fp.claims.ranges().size(), 1u) << "only the register BAR";
  EXPECT_EQ(stat(*v, "core.unmapped_bars"), 1u);
  EXPECT_EQ(mmio_read(kRegs + kId, 4), 0x4d494e31u) << "the BAR still answers";
}

TEST_F(VgpuTest, ExpansionRomForOtherPciIdsIsRefused) {
  try {
    (void)make(kUuid1, kSlot5, {}, true, "minimal-1",
               std::make_shared<const ExpansionRom>(test::make_rom_image(0x1234, 0x1111)));
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("the expansion ROM is for PCI 1234:1111 but type minimal-1 is 1af4:10f0"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace xvgpu::gpu
