// Loading vendors: the example plugin, ABI version rules with old / newer / incompatible
// plugins (tests/gpu/plugins/abi_variant_plugin.c), and built-in vendors.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "gpu/vendor_descriptor.h"
#include "gpu/vgpu_manager.h"
#include "support/fake_platform.h"
#include "temp_dir.h"

namespace xvgpu::gpu {
namespace {

std::string load_error(const char* path) {
  test::TempDir dir;
  VgpuManager m(ManagerOptions{dir.path()});
  try {
    m.load_plugin(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(VendorAbi, ExamplePluginLoads) {
  test::TempDir dir;
  VgpuManager m(ManagerOptions{dir.path()});
  m.load_plugin(MINIMAL_PLUGIN_PATH);
  const auto gpus = m.physical_gpus();
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].info->vendor, "minimal");
  EXPECT_EQ(gpus[0].info->name, "minimal0");
  ASSERT_EQ(gpus[0].types.size(), 2u);
  EXPECT_EQ(gpus[0].types[0].type->name, "minimal-1");
  EXPECT_EQ(gpus[0].types[0].available, 4u) << "4 slots, 1 each";
  EXPECT_EQ(gpus[0].types[1].available, 1u) << "max_instances 1";
  const auto& layout = gpus[0].types[0].type->layout;
  ASSERT_EQ(layout.bars.size(), 2u);
  EXPECT_EQ(layout.bars[1].index, 2u);
  EXPECT_TRUE(layout.bars[1].direct);
  EXPECT_TRUE(layout.bars[1].is64);
  EXPECT_EQ(layout.bars[0].access_min, 4);
  EXPECT_EQ(gpus[0].types[0].type->knobs.size(), 2u);
}

TEST(VendorAbi, SameVendorTwiceIsRefused) {
  test::TempDir dir;
  VgpuManager m(ManagerOptions{dir.path()});
  m.load_plugin(MINIMAL_PLUGIN_PATH);
  try {
    m.load_plugin(MINIMAL_PLUGIN_PATH);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already loaded"), std::string::npos) << e.what();
  }
}

TEST(VendorAbi, OldPluginLoadsWithNewerFeaturesAbsent) {
  test::TempDir dir;
  test::FakePlatform fp;
  VgpuManager m(ManagerOptions{dir.path()});
  m.load_plugin(ABI_VARIANT_1);
  VgpuConfig c;
  c.uuid = "aaaaaaaa-0000-0000-0000-000000000001";
  c.type = "variant-1";
  auto v = m.create_vgpu(c, fp.platform());
  // Its read_stats/knob_get lie beyond the struct_size it declared: the core must not call them.
  for (const auto& counter : v->stats()) EXPECT_NE(counter.name, "ticks");
  try {
    (void)v->knob_get("turbo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read knobs"), std::string::npos) << e.what();
  }
}

TEST(VendorAbi, PluginOfTheMinorBeforeDisplayDamageLoads) {
  static_assert(XVGPU_VENDOR_ABI_MINOR >= 2, "ABI_VARIANT_9 is built for a minor before display damage");
  test::TempDir dir;
  test::FakePlatform fp;
  VgpuManager m(ManagerOptions{dir.path()});
  m.load_plugin(ABI_VARIANT_9);
  VgpuConfig c;
  c.uuid = "aaaaaaaa-0000-0000-0000-000000000009";
  c.type = "variant-1";
  auto v = m.create_vgpu(c, fp.platform());
  v->start();
  EXPECT_EQ(v->state(), VgpuState::Running);
  // It has no display: the console's query says so instead of inventing one.
  EXPECT_THROW((void)v->display_update(0), Error);
}

// A 1.2 plugin does not report its own VRAM writes, so the core cannot leave its VRAM to the
// guest's memory image (which would miss what the plugin wrote during a live migration): the
// contents stay in the saved state even where the hypervisor saves the guest's memory.
TEST(VendorAbi, PluginBeforeDirectBarWrittenKeepsItsVramInTheSavedState) {
  static_assert(XVGPU_VENDOR_ABI_MINOR >= 3, "ABI_VARIANT_10 is built for a minor before this one");
  test::TempDir dir;
  test::FakePlatform fp;
  fp.direct.saved_with_guest = true;
  VgpuManager m(ManagerOptions{dir.path()});
  m.load_plugin(ABI_VARIANT_10);
  VgpuConfig c;
  c.uuid = "aaaaaaaa-0000-0000-0000-00000000000a";
  c.type = "variant-1";
  auto a = m.create_vgpu(c, fp.platform());
  ASSERT_EQ(fp.direct.regions().size(), 1u);
  fp.direct.regions()[0]->host()[4000] = std::byte{0x3c};
  std::stringstream snap;
  a->save(snap);
  EXPECT_GT(snap.str().size(), 4096u) << "the 4 KiB BAR is in the state";
  m.destroy_vgpu(c.uuid);

  c.uuid = "aaaaaaaa-0000-0000-0000-00000000000b";
  auto b = m.create_vgpu(c, fp.platform());
  ASSERT_EQ(fp.direct.regions().size(), 1u);
  snap.seekg(0);
  b->restore(snap);
  EXPECT_EQ(fp.direct.regions()[0]->host()[4000], std::byte{0x3c});
}

TEST(VendorAbi, NewerMinorIsRefused) {
  const auto msg = load_error(ABI_VARIANT_2);
  EXPECT_NE(msg.find("newer than this xvgpu's ABI 1." + std::to_string(XVGPU_VENDOR_ABI_MINOR)),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(ABI_VARIANT_2), std::string::npos) << "names the plugin: " << msg;
}

TEST(VendorAbi, OtherMajorIsRefused) {
  const auto msg = load_error(ABI_VARIANT_3);
  EXPECT_NE(msg.find("built for xvgpu vendor ABI 2." + std::to_string(XVGPU_VENDOR_ABI_MINOR)),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("incompatible"), std::string::npos) << msg;
}

TEST(VendorAbi, TruncatedVendorStructIsRefused) {
  const auto msg = load_error(ABI_VARIANT_4);
  EXPECT_NE(msg.find("struct xvgpu_vendor declares struct_size 12"), std::string::npos) << msg;
}

TEST(VendorAbi, MalformedLayoutIsRefusedNamingTheItem) {
  const auto msg = load_error(ABI_VARIANT_5);
  EXPECT_NE(msg.find("type 'variant-1': BAR 0: size must be a power of two"), std::string::npos) << msg;
}

TEST(VendorAbi, InitRefusalCarriesTheVendorsMessage) {
  const auto msg = load_error(ABI_VARIANT_6);
  EXPECT_NE(msg.find("no hardware found on this host"), std::string::npos) << msg;
}

TEST(VendorAbi, MissingEntryPoint) {
  const auto msg = load_error(ABI_VARIANT_7);
  EXPECT_NE(msg.find("does not export xvgpu_vendor_entry()"), std::string::npos) << msg;
}

TEST(VendorAbi, StructLargerThanThisMinorIsRefused) {
  const auto msg = load_error(ABI_VARIANT_8);
  EXPECT_NE(msg.find("struct xvgpu_type_desc declares struct_size"), std::string::npos) << msg;
}

TEST(VendorAbi, NotALibrary) {
  const auto msg = load_error("/nonexistent/plugin.so");
  EXPECT_NE(msg.find("cannot load vendor plugin /nonexistent/plugin.so"), std::string::npos) << msg;
}

TEST(VendorAbi, PluginDirectoryLoadsGoodOnesAndReportsBadOnes) {
  test::TempDir state;
  test::TempDir plugins;
  std::filesystem::copy_file(MINIMAL_PLUGIN_PATH, plugins.path() / "a-minimal.so");
  std::filesystem::copy_file(ABI_VARIANT_3, plugins.path() / "b-major2.so");
  std::filesystem::copy_file(ABI_VARIANT_1, plugins.path() / "c-old.so");
  VgpuManager m(ManagerOptions{state.path()});
  const auto failures = m.load_plugin_dir(plugins.path());
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].path.filename(), "b-major2.so");
  EXPECT_EQ(m.vendor_names(), (std::vector<std::string>{"minimal", "abi-variant"}));
}

// A vendor linked into the test binary, registered the way a built-in vendor library does.
const xvgpu_host_api* g_host = nullptr;
int builtin_init(const xvgpu_host_api* host, xvgpu_registrar* reg, xvgpu_error* err) {
  g_host = host;
  (void)reg;
  (void)err;
  return 0;  // registers no GPU: enough to check the path
}
const xvgpu_vendor kBuiltin = {sizeof(xvgpu_vendor),   XVGPU_VENDOR_ABI_MAJOR,
                               XVGPU_VENDOR_ABI_MINOR, 0,
                               "builtin-test",         "1",
                               builtin_init,           nullptr};
const xvgpu_vendor* builtin_entry() {
  return &kBuiltin;
}

TEST(VendorAbi, BuiltInVendorsGoThroughTheSameChecks) {
  EXPECT_EQ(xvgpu_register_builtin_vendor(builtin_entry), 0);
  EXPECT_EQ(xvgpu_register_builtin_vendor(builtin_entry), -EEXIST);
  test::TempDir dir;
  VgpuManager m(ManagerOptions{dir.path()});
  m.load_builtin_vendors();
  m.load_builtin_vendors();  // idempotent
  const auto names = m.vendor_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "builtin-test"), 1);
  ASSERT_NE(g_host, nullptr);
  EXPECT_EQ(g_host->abi_major, XVGPU_VENDOR_ABI_MAJOR);
  EXPECT_EQ(g_host->struct_size, sizeof(xvgpu_host_api));
}

}  // namespace
}  // namespace xvgpu::gpu
