// Vendor-owned config space (config fields, vendor-handled capabilities), capability placement,
// and irq_changed() notifications, with a vendor defined in this file and linked in as a
// built-in vendor.
#include <xvgpu/vendor.h>

#include <gtest/gtest.h>

#include <vector>

#include "gpu/vgpu_manager.h"
#include "support/fake_platform.h"
#include "temp_dir.h"

namespace xvgpu::gpu {
namespace {

struct Recorder {
  std::vector<xvgpu_access> reads;
  std::vector<std::pair<xvgpu_access, uint64_t>> writes;
  std::vector<xvgpu_irq_state> irq_changes;
};
Recorder g_rec;
bool g_refuse_destroy = false;

int available(void*, uint32_t, uint32_t* n) {
  *n = 4;
  return 0;
}
int create(void*, xvgpu_instance*, const xvgpu_create_info*, void** data, xvgpu_error*) {
  *data = &g_rec;
  return 0;
}
int noop(void*, xvgpu_error*) {
  return 0;
}
int destroy(void*, xvgpu_error* err) {
  return g_refuse_destroy ? xvgpu_set_error(err, -EBUSY, "instance busy") : 0;
}
int start(void*, const xvgpu_domain_info*, xvgpu_error*) {
  return 0;
}
int bar_read(void*, const xvgpu_access*, uint64_t* v) {
  *v = 0;
  return 0;
}
int bar_write(void*, const xvgpu_access*, uint64_t) {
  return 0;
}
int cfg_read(void* data, const xvgpu_access* a, uint64_t* v) {
  static_cast<Recorder*>(data)->reads.push_back(*a);
  *v = 0xa0a0a0a0a0a0a0a0 + a->offset;
  return 0;
}
int cfg_write(void* data, const xvgpu_access* a, uint64_t v) {
  static_cast<Recorder*>(data)->writes.emplace_back(*a, v);
  return 0;
}
void irq_changed(void* data, const xvgpu_irq_state* s) {
  static_cast<Recorder*>(data)->irq_changes.push_back(*s);
}

const xvgpu_bar_desc kBar0 = {sizeof(xvgpu_bar_desc), 0, 4096, 0, 0, 0, {}};
const xvgpu_bar_desc* const kBars[] = {&kBar0};
const uint8_t kCap0Init[8] = {0, 0, 1, 2, 3, 4, 5, 6};
const uint8_t kCap1Init[8] = {0, 0, 0x03, 0x00, 0x08, 0x00, 0x00, 0x00};
const uint8_t kCap1Writable[8] = {0, 0, 0, 0, 0x03, 0, 0, 0};
const xvgpu_capability_desc kCap0 = {sizeof(xvgpu_capability_desc), 0x09,      8,
                                     XVGPU_CAP_VENDOR_HANDLED,      kCap0Init, nullptr};
const xvgpu_capability_desc kCap1 = {sizeof(xvgpu_capability_desc), 0x01, 8, 0, kCap1Init, kCap1Writable};
const xvgpu_capability_desc* const kCaps[] = {&kCap0, &kCap1};
const xvgpu_config_field kField = {sizeof(xvgpu_config_field), 0xc0, 8};
const xvgpu_config_field* const kFields[] = {&kField};
const xvgpu_device_layout kLayout = {sizeof(xvgpu_device_layout),
                                     0x1af4,
                                     0x10f2,
                                     0,
                                     0,
                                     0,
                                     3,
                                     0x80,
                                     0,
                                     2,
                                     2,
                                     {},
                                     1,
                                     kBars,
                                     2,
                                     kCaps,
                                     1,
                                     kFields,
                                     0,
                                     nullptr};
const xvgpu_type_desc kType = {sizeof(xvgpu_type_desc),
                               0,
                               "cfg-1",
                               "config test",
                               0,
                               1,
                               0,
                               0,
                               0,
                               nullptr,
                               &kLayout,
                               0,
                               0,
                               nullptr,
                               nullptr};
const xvgpu_type_desc* const kTypes[] = {&kType};
const xvgpu_pgpu_desc kPgpu = {sizeof(xvgpu_pgpu_desc), 0, 0, "cfg0", "", 1, 0, kTypes, nullptr};
const xvgpu_device_ops kOps = {sizeof(xvgpu_device_ops),
                               available,
                               create,
                               destroy,
                               start,
                               noop,
                               noop,
                               bar_read,
                               bar_write,
                               cfg_read,
                               cfg_write,
                               irq_changed,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr};
int init(const xvgpu_host_api* host, xvgpu_registrar* reg, xvgpu_error* err) {
  return host->register_pgpu(reg, &kPgpu, &kOps, nullptr, err);
}
const xvgpu_vendor kVendor = {
    sizeof(xvgpu_vendor), XVGPU_VENDOR_ABI_MAJOR, XVGPU_VENDOR_ABI_MINOR, 0, "cfgtest", "1", init, nullptr};
const xvgpu_vendor* entry() {
  return &kVendor;
}

constexpr Sbdf kSlot{0, 0, 3, 0};

class VendorConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_rec = Recorder{};
    g_refuse_destroy = false;
    (void)xvgpu_register_builtin_vendor(entry);
    m.load_builtin_vendors();
    VgpuConfig c;
    c.uuid = "c0000000-0000-4000-8000-000000000001";
    c.type = "cfgtest/cfg-1";
    c.sbdf = kSlot;
    v = m.create_vgpu(c, fp.platform());
    v->start();
  }
  uint64_t rd(unsigned off, uint8_t size) {
    return m.bus(fp.domid).read(IoAccess{AddressSpace::PciConfig, off, kSlot, size, VcpuId{2}});
  }
  void wr(unsigned off, uint8_t size, uint64_t val) {
    m.bus(fp.domid).write(IoAccess{AddressSpace::PciConfig, off, kSlot, size, VcpuId{2}}, val);
  }

  test::TempDir dir;
  test::FakePlatform fp;
  VgpuManager m{ManagerOptions{dir.path()}};
  std::shared_ptr<Vgpu> v;
};

TEST_F(VendorConfigTest, CapabilitiesAreChainedAfterMsi) {
  EXPECT_EQ(rd(0x34, 1), 0x40u);
  EXPECT_EQ(rd(0x40, 2), 0x5805u);
  EXPECT_EQ(rd(0x58, 2), 0x6009u) << "core answers the header of a vendor-handled capability";
  EXPECT_EQ(rd(0x60, 2), 0x0001u);
  EXPECT_EQ(v->svc_capability_offset(0), 0x58u);
  EXPECT_EQ(v->svc_capability_offset(1), 0x60u);
  EXPECT_EQ(v->svc_capability_offset(2), 0u);
  // The core-emulated capability honours its writable mask.
  wr(0x64, 4, 0xffffffff);
  EXPECT_EQ(rd(0x64, 4), 0x0000000bu);
  EXPECT_TRUE(g_rec.reads.empty());
}

TEST_F(VendorConfigTest, VendorOwnedBytesGoToTheVendor) {
  EXPECT_EQ(rd(0x5c, 4), 0xa0a0a0a0u + 0x5c);
  ASSERT_EQ(g_rec.reads.size(), 1u);
  EXPECT_EQ(g_rec.reads[0].region, XVGPU_REGION_CONFIG);
  EXPECT_EQ(g_rec.reads[0].offset, 0x5cu);
  EXPECT_EQ(g_rec.reads[0].size, 4u);
  EXPECT_EQ(g_rec.reads[0].vcpu, 2u);
  EXPECT_EQ(rd(0x5a, 2), 0xa0a0u + 0x5a);
  wr(0xc4, 4, 0x12345678);
  ASSERT_EQ(g_rec.writes.size(), 1u);
  EXPECT_EQ(g_rec.writes[0].first.offset, 0xc4u);
  EXPECT_EQ(g_rec.writes[0].second, 0x12345678u);
  EXPECT_EQ(rd(0xc0, 1), (0xa0u + 0xc0u) & 0xffu) << "the core masks the vendor's value to the access size";
}

TEST_F(VendorConfigTest, StraddlingCoreAndVendorBytesIsRefused) {
  EXPECT_EQ(rd(0x58, 4), 0xffffffffu) << "id/next are the core's, the body the vendor's";
  wr(0x58, 4, 0);
  EXPECT_TRUE(g_rec.reads.empty());
  EXPECT_TRUE(g_rec.writes.empty());
  EXPECT_EQ(rd(0x58, 1), 0x09u) << "header untouched";
}

TEST_F(VendorConfigTest, IrqChangesAreNotified) {
  wr(0x04, 2, 0x4);  // bus master: no interrupt change
  EXPECT_TRUE(g_rec.irq_changes.empty());
  wr(0x42, 2, 0x0011);  // MSI enable, MME = 1 (2 vectors)
  ASSERT_EQ(g_rec.irq_changes.size(), 1u);
  EXPECT_EQ(g_rec.irq_changes[0].msi_enabled, 1);
  EXPECT_EQ(g_rec.irq_changes[0].msi_vectors_enabled, 2u);
  wr(0x04, 2, 0x404);  // INTx disable
  ASSERT_EQ(g_rec.irq_changes.size(), 2u);
  EXPECT_EQ(g_rec.irq_changes[1].intx_disabled, 1);
  EXPECT_EQ(v->svc_raise_msi(1), XVGPU_MSI_DELIVERED);
  EXPECT_EQ(fp.interrupts.msis().back().data & 1, 1u);
  EXPECT_EQ(v->svc_raise_msi(2), -EINVAL) << "beyond the declared vectors";
}

TEST_F(VendorConfigTest, IntxUsesTheDeclaredPin) {
  EXPECT_EQ(rd(0x3d, 1), 2u);
  EXPECT_EQ(v->svc_set_intx(true), 0);
  EXPECT_TRUE(fp.interrupts.intx(kSlot, 1)) << "INTB is pin index 1";
  EXPECT_FALSE(fp.interrupts.intx(kSlot, 0));
}

TEST(VendorRefusal, RefusedDestroyKeepsStateAndTeardownStillReleases) {
  (void)xvgpu_register_builtin_vendor(entry);
  test::TempDir state;
  test::FakePlatform fp;
  {
    VgpuManager m{ManagerOptions{state.path()}};
    m.load_builtin_vendors();
    VgpuConfig c;
    c.uuid = "c0000000-0000-4000-8000-000000000002";
    c.type = "cfg-1";
    c.sbdf = kSlot;
    auto v = m.create_vgpu(c, fp.platform());
    v->start();
    g_refuse_destroy = true;
    try {
      m.destroy_vgpu(c.uuid);
      FAIL();
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(),
                   "vendor cfgtest refused to destroy vGPU c0000000-0000-4000-8000-000000000002: instance "
                   "busy (error -16)");
    }
    EXPECT_EQ(v->state(), VgpuState::Stopped) << "stopped, not destroyed";
    EXPECT_EQ(m.accounting().list().size(), 1u) << "still reserved";
    v->start();
  }  // manager teardown: destroy refused again -> abandoned, core resources released
  g_refuse_destroy = false;
  EXPECT_TRUE(fp.claims.pcis().empty());
  EXPECT_EQ(fp.claims.violations(), 0u);
  HostAccounting acc(state.path());
  EXPECT_TRUE(acc.list().empty());
}

}  // namespace
}  // namespace xvgpu::gpu
