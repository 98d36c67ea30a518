// Types and availability, knobs, save/restore, and the plugin build of simgpu.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "device_screenshot.h"
#include "guest_driver.h"
#include "png_decode.h"
#include "state_v1_image.h"
#include "test_host.h"
#include "vendor/simgpu/physical_gpu.h"
#include "vendor/simgpu/simgpu_device.h"
#include "vendor/simgpu/simgpu_vendor.h"
#include "vendor/simgpu/state_codec.h"

namespace xvgpu::simgpu::test {
namespace {

using namespace engine;

uint32_t available(TestHost& h, uint32_t type) {
  uint32_t n = 0;
  EXPECT_EQ(h.pgpus()[0].ops->available_instances(h.pgpus()[0].pgpu_data, type, &n), 0);
  return n;
}

xvgpu_knob_value int_knob(uint32_t knob, int64_t v) {
  return xvgpu_knob_value{knob, 0, v, nullptr};
}
xvgpu_knob_value text_knob(uint32_t knob, const char* t) {
  return xvgpu_knob_value{knob, 0, 0, t};
}

TEST(SimgpuTypes, RegistrationDescribesTheDevice) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  ASSERT_EQ(host.pgpus().size(), 1u);
  const auto* d = host.pgpus()[0].desc;
  EXPECT_STREQ(d->name, "simgpu0");
  ASSERT_EQ(d->num_types, 3u);
  ASSERT_EQ(d->num_resources, 2u);
  EXPECT_STREQ(d->resources[0]->name, "vram");
  EXPECT_STREQ(d->resources[1]->name, "engine_contexts");
  const uint64_t vram[] = {16u << 20, 64u << 20, 256u << 20};
  for (uint32_t t = 0; t < 3; ++t) {
    const auto* type = d->types[t];
    EXPECT_EQ(type->vram_bytes, vram[t]);
    EXPECT_EQ(type->costs[0], vram[t]);
    EXPECT_EQ(type->costs[1], 1u);
    const auto* l = type->layout;
    EXPECT_EQ(l->vendor_id, 0x1234);
    EXPECT_EQ(l->device_id, 0x1111);
    EXPECT_EQ(l->class_code, 0x03);
    EXPECT_EQ(l->subclass, 0x00);
    EXPECT_GE(l->revision, 2) << "bochs reads the extended registers only from revision 2";
    EXPECT_EQ(l->msi_vectors, 1u);
    ASSERT_EQ(l->num_bars, 3u);
    EXPECT_EQ(l->bars[0]->index, 0u);
    EXPECT_EQ(l->bars[0]->size, vram[t]);
    EXPECT_EQ(l->bars[0]->flags, uint32_t{XVGPU_BAR_PREFETCHABLE | XVGPU_BAR_DIRECT});
    EXPECT_EQ(l->bars[1]->index, 2u);
    EXPECT_EQ(l->bars[1]->flags & XVGPU_BAR_DIRECT, 0u) << "registers are trapped";
    EXPECT_EQ(l->bars[2]->index, 4u);
    EXPECT_EQ(l->bars[2]->flags & XVGPU_BAR_DIRECT, 0u);
    EXPECT_EQ(type->num_stats, static_cast<uint32_t>(kStatCount));
    EXPECT_EQ(type->num_knobs, static_cast<uint32_t>(kKnobCount));
  }
}

TEST(SimgpuTypes, AvailabilityFollowsWhatIsLeft) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);  // default: 1024 MiB, 8 engine contexts
  EXPECT_EQ(available(host, 0), 8u) << "16 MiB: limited by engine contexts";
  EXPECT_EQ(available(host, 1), 8u);
  EXPECT_EQ(available(host, 2), 4u) << "256 MiB: limited by VRAM";
  std::vector<TestInstance*> big;
  for (int k = 0; k < 3; ++k) big.push_back(host.create(2));
  for (auto* i : big) ASSERT_NE(i, nullptr);
  EXPECT_EQ(available(host, 2), 1u);
  EXPECT_EQ(available(host, 1), 4u);
  EXPECT_EQ(available(host, 0), 5u) << "8 contexts - 3";
  auto* last = host.create(2);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(available(host, 2), 0u);
  EXPECT_EQ(available(host, 0), 0u) << "VRAM is used up";
  int rc = 0;
  xvgpu_error err{};
  EXPECT_EQ(host.create(0, {}, &rc, &err), nullptr);
  EXPECT_EQ(rc, -ENOSPC);
  EXPECT_NE(std::string(err.message).find("no room"), std::string::npos) << err.message;
  ASSERT_EQ(host.destroy(last), 0);
  EXPECT_EQ(available(host, 0), 5u) << "256 MiB back: 16 would fit, 5 contexts left";
  uint32_t n = 0;
  EXPECT_EQ(host.pgpus()[0].ops->available_instances(host.pgpus()[0].pgpu_data, 9, &n), -EINVAL);
}

TEST(SimgpuTypes, PhysicalGpusFromTheEnvironment) {
  EXPECT_EQ(parse_physical_gpus("a:64:2").at(0).vram_bytes, 64u << 20);
  const auto two = parse_physical_gpus("gpu-a:512:4,gpu_b:2048:16");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].name, "gpu_b");
  EXPECT_EQ(two[1].engine_contexts, 16u);
  for (const char* bad : {"", "x", "a:64", "a:64:0", "a:8:2", "A:64:2", "a:64:2,a:64:2", ":64:2", "a:6x4:2",
                          "a:64:2,", "a:64:1000"}) {
    EXPECT_THROW(parse_physical_gpus(bad), Error) << bad;
  }
  setenv("XVGPU_SIMGPU", "small:32:2", 1);
  {
    TestHost host;
    ASSERT_EQ(host.load(simgpu_vendor()), 0);
    EXPECT_STREQ(host.pgpus()[0].desc->name, "small");
    EXPECT_EQ(available(host, 0), 2u);
    EXPECT_EQ(available(host, 1), 0u);
  }
  setenv("XVGPU_SIMGPU", "bad", 1);
  {
    TestHost host;
    xvgpu_error err{};
    EXPECT_LT(host.load(simgpu_vendor(), &err), 0);
    EXPECT_NE(std::string(err.message).find("name:vram_mib:engine_contexts"), std::string::npos)
        << err.message;
  }
  unsetenv("XVGPU_SIMGPU");
}

TEST(SimgpuKnobs, CreationParametersAreValidated) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  int rc = 0;
  xvgpu_error err{};
  EXPECT_EQ(host.create(0, {int_knob(kKnobEngineWeight, 0)}, &rc, &err), nullptr);
  EXPECT_EQ(rc, -EINVAL);
  EXPECT_EQ(host.create(0, {int_knob(kKnobEngineWeight, 1001)}, &rc, &err), nullptr);
  EXPECT_EQ(host.create(0, {int_knob(kKnobPriority, 2)}, &rc, &err), nullptr);
  EXPECT_EQ(host.create(0, {text_knob(kKnobPreferredMode, "2560x1600")}, &rc, &err), nullptr)
      << "beyond simgpu-16's maximum";
  EXPECT_NE(std::string(err.message).find("1920x1200"), std::string::npos) << err.message;
  for (const char* bad : {"", "x", "1024", "1024x", "x768", "0x768", "1024x768x", "-1x5", "99999999999x1"}) {
    EXPECT_EQ(host.create(0, {text_knob(kKnobPreferredMode, bad)}, &rc, &err), nullptr) << bad;
  }
  EXPECT_EQ(host.create(0, {int_knob(77, 1)}, &rc, &err), nullptr);
  EXPECT_EQ(available(host, 0), 8u) << "refusals reserve nothing";

  auto* inst = host.create(1, {int_knob(kKnobEngineWeight, 300), int_knob(kKnobPriority, 1),
                               text_knob(kKnobPreferredMode, "2560x1600")});
  ASSERT_NE(inst, nullptr);
  const auto& ops = host.ops(inst);
  int64_t v = 0;
  char text[32] = {};
  EXPECT_EQ(ops.knob_get(inst->vgpu_data, kKnobEngineWeight, &v, nullptr, 0), 0);
  EXPECT_EQ(v, 300);
  EXPECT_EQ(ops.knob_get(inst->vgpu_data, kKnobPriority, &v, nullptr, 0), 0);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(ops.knob_get(inst->vgpu_data, kKnobPreferredMode, nullptr, text, sizeof text), 0);
  EXPECT_STREQ(text, "2560x1600");
  EXPECT_EQ(ops.knob_get(inst->vgpu_data, kKnobPreferredMode, nullptr, text, 4), -ENOSPC);
  // The EDID advertises it.
  EXPECT_EQ(host.read(inst, kRegs, 56, 1) | (host.read(inst, kRegs, 58, 1) >> 4) << 8, 2560u);
}

TEST(SimgpuKnobs, RuntimeChanges) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  auto* inst = host.create(0);
  ASSERT_NE(inst, nullptr);
  const auto& ops = host.ops(inst);
  xvgpu_error err{};
  xvgpu_knob_value w = int_knob(kKnobEngineWeight, 42);
  EXPECT_EQ(ops.knob_set(inst->vgpu_data, &w, &err), 0);
  int64_t v = 0;
  ops.knob_get(inst->vgpu_data, kKnobEngineWeight, &v, nullptr, 0);
  EXPECT_EQ(v, 42);
  w.integer = 0;
  EXPECT_EQ(ops.knob_set(inst->vgpu_data, &w, &err), -EINVAL);
  ops.knob_get(inst->vgpu_data, kKnobEngineWeight, &v, nullptr, 0);
  EXPECT_EQ(v, 42) << "a refused value changes nothing";
  xvgpu_knob_value p = int_knob(kKnobPriority, 1);
  EXPECT_EQ(ops.knob_set(inst->vgpu_data, &p, &err), 0);
  ops.knob_get(inst->vgpu_data, kKnobPriority, &v, nullptr, 0);
  EXPECT_EQ(v, 1);
  xvgpu_knob_value m = text_knob(kKnobPreferredMode, "800x600");
  EXPECT_EQ(ops.knob_set(inst->vgpu_data, &m, &err), -EPERM);
  EXPECT_NE(std::string(err.message).find("creation"), std::string::npos);
  xvgpu_knob_value none = int_knob(9, 1);
  EXPECT_EQ(ops.knob_set(inst->vgpu_data, &none, &err), -EINVAL);
}

// A stream over a byte vector, as the core provides for save/restore.
struct VectorStream {
  std::vector<uint8_t> bytes;
  size_t pos = 0;
  static int write(void* ctx, const void* data, size_t len) {
    auto* s = static_cast<VectorStream*>(ctx);
    const auto* p = static_cast<const uint8_t*>(data);
    s->bytes.insert(s->bytes.end(), p, p + len);
    return 0;
  }
  static int64_t read(void* ctx, void* data, size_t len) {
    auto* s = static_cast<VectorStream*>(ctx);
    const size_t n = std::min(len, s->bytes.size() - s->pos);
    if (n != 0) std::memcpy(data, s->bytes.data() + s->pos, n);
    s->pos += n;
    return static_cast<int64_t>(n);
  }
  xvgpu_stream stream() { return xvgpu_stream{this, write, read}; }
};

void set_knob_ok(TestHost& h, TestInstance* i, uint32_t knob, int64_t value) {
  const xvgpu_knob_value k = int_knob(knob, value);
  xvgpu_error err{};
  ASSERT_EQ(h.ops(i).knob_set(i->vgpu_data, &k, &err), 0) << err.message;
}

// Recomputes the CRC-32 at the end of a version 2 image (to test checks behind the CRC).
void reseal(std::vector<uint8_t>& image) {
  const uint32_t crc = crc32(std::span<const uint8_t>(image).first(image.size() - 4));
  for (unsigned i = 0; i < 4; ++i) image[image.size() - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
}

TEST(SimgpuSaveRestore, RoundTripOfRegistersEngineAndVram) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  const std::string uuid_a = "aaaaaaaa-0000-4000-8000-000000000001";
  const std::string uuid_b = "bbbbbbbb-0000-4000-8000-000000000002";
  auto* a = host.create(0, {}, nullptr, nullptr, uuid_a);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(host.start(a), 0);
  const BochsProbe probe = bochs_probe(host, a);
  bochs_setmode(host, a, 320, 200, probe.mem);
  bochs_setbase(host, a, 0, 0, 320 * 4, 0x100000);
  for (uint32_t k = 0; k < 320 * 200; ++k) {
    const uint32_t px = k * 0x010305u;
    std::memcpy(a->vram.data() + 0x100000 + k * 4, &px, 4);
  }
  // Engine: some completed work, a fence address, and pending descriptors left in the ring
  // of a disabled engine.
  const uint64_t ring_gpa = TestHost::kRamBase + 0x2000;
  Ring ring = setup_ring(host, a, ring_gpa, 16);
  engine_write(host, a, kRegFenceAddrLo, static_cast<uint32_t>(TestHost::kRamBase + 0x100));
  submit(host, a, ring, {fill(0, 64, 1, 64, 7, 1), fill(64, 64, 1, 64, 8, 2)});
  engine_write(host, a, kRegControl, 0);
  submit(host, a, ring, {fill(0x800000, 64, 1, 64, 9, 3)});
  // VGA palette state too.
  vga_writeb(host, a, 0x3c8, 9);
  for (uint8_t c : {1, 2, 3}) vga_writeb(host, a, 0x3c9, c);

  std::vector<uint64_t> regs_a;
  for (uint16_t r = 0; r < 0xb; ++r) regs_a.push_back(dispi_read(host, a, r));
  for (uint32_t r = 0; r <= kRegLastRegister; r += 4) regs_a.push_back(engine_read(host, a, r));

  VectorStream saved;
  xvgpu_error err{};
  const xvgpu_stream out = saved.stream();
  ASSERT_EQ(host.ops(a).save_state(a->vgpu_data, &out, &err), 0) << err.message;
  std::vector<uint8_t> png_a;
  ASSERT_TRUE(with_device(uuid_a, [&](SimgpuDevice& d) { png_a = screenshot_png(d); }));

  // A fresh instance of the same type; the core restores config space and VRAM itself.
  auto* b = host.create(0, {}, nullptr, nullptr, uuid_b);
  ASSERT_NE(b, nullptr);
  std::memcpy(b->vram.data(), a->vram.data(), a->vram.size());
  const xvgpu_stream in = saved.stream();
  ASSERT_EQ(host.ops(b).restore_state(b->vgpu_data, &in, &err), 0) << err.message;
  ASSERT_EQ(host.start(b), 0);

  std::vector<uint64_t> regs_b;
  for (uint16_t r = 0; r < 0xb; ++r) regs_b.push_back(dispi_read(host, b, r));
  for (uint32_t r = 0; r <= kRegLastRegister; r += 4) regs_b.push_back(engine_read(host, b, r));
  EXPECT_EQ(regs_a, regs_b);
  std::vector<uint8_t> png_b;
  ASSERT_TRUE(with_device(uuid_b, [&](SimgpuDevice& d) { png_b = screenshot_png(d); }));
  EXPECT_EQ(decode_png(png_a).rgb, decode_png(png_b).rgb);
  vga_writeb(host, b, 0x3c7, 9);
  EXPECT_EQ(vga_readb(host, b, 0x3c9), 1);
  EXPECT_EQ(vga_readb(host, b, 0x3c9), 2);

  // The pending descriptor runs on the restored instance once the guest re-enables it.
  engine_write(host, b, kRegControl, kControlEnable);
  host.drain(b);
  uint32_t v = 0;
  std::memcpy(&v, b->vram.data() + 0x800000, 4);
  EXPECT_EQ(v, 9u);
  EXPECT_EQ(engine_read(host, b, kRegFence), 3u);
}

TEST(SimgpuSaveRestore, DamagedImagesAreRefusedWithoutChange) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  auto* a = host.create(0);
  auto* big = host.create(1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(big, nullptr);
  setup_ring(host, a, TestHost::kRamBase, 16);
  VectorStream saved;
  xvgpu_error err{};
  const xvgpu_stream out = saved.stream();
  ASSERT_EQ(host.ops(a).save_state(a->vgpu_data, &out, &err), 0);
  const auto good = saved.bytes;

  const auto try_restore = [&](TestInstance* inst, std::vector<uint8_t> image) {
    VectorStream s;
    s.bytes = std::move(image);
    const xvgpu_stream in = s.stream();
    err = xvgpu_error{};
    return host.ops(inst).restore_state(inst->vgpu_data, &in, &err);
  };
  EXPECT_LT(try_restore(big, good), 0) << "another type";
  EXPECT_NE(std::string(err.message).find("different type"), std::string::npos) << err.message;
  auto truncated = good;
  truncated.resize(good.size() - 9);
  EXPECT_LT(try_restore(a, truncated), 0);
  EXPECT_NE(std::string(err.message).find("truncated"), std::string::npos) << err.message;
  auto magic = good;
  magic[0] ^= 1;
  EXPECT_LT(try_restore(a, magic), 0);
  auto trailing = good;
  trailing.push_back(0);
  EXPECT_LT(try_restore(a, trailing), 0);
  EXPECT_LT(try_restore(a, std::vector<uint8_t>(200000, 0)), 0) << "oversized";
  EXPECT_LT(try_restore(a, {}), 0);
  // Head beyond the ring, in an image whose CRC is right: engine registers come before the knobs:
  // ... head(4) tail(4) fence(4) status error_code error_count irq_status irq_mask fence_addr(8) jobs(4)
  // weight(4) priority(1) counters(7 x 8) end(4) crc(4)
  auto bad_head = good;
  const size_t head_at = good.size() - 4 - 4 - 7 * 8 - 1 - 4 - 4 - 8 - 4 * 5 - 4 - 4 - 4;
  bad_head[head_at] = 200;
  EXPECT_LT(try_restore(a, bad_head), 0);
  EXPECT_NE(std::string(err.message).find("CRC-32"), std::string::npos) << err.message;
  reseal(bad_head);
  EXPECT_LT(try_restore(a, bad_head), 0);
  EXPECT_NE(std::string(err.message).find("ring"), std::string::npos) << err.message;
  // None of it changed the instance.
  EXPECT_EQ(engine_read(host, a, kRegRingSize), 16u);
  EXPECT_EQ(engine_read(host, a, kRegControl), kControlEnable);
  EXPECT_EQ(try_restore(a, good), 0);
}

std::array<uint64_t, kStatCount> stats_of(TestHost& h, TestInstance* i) {
  std::array<uint64_t, kStatCount> v{};
  EXPECT_EQ(h.ops(i).read_stats(i->vgpu_data, v.data(), kStatCount), 0);
  return v;
}

int64_t knob_of(TestHost& h, TestInstance* i, uint32_t knob) {
  int64_t v = -1;
  EXPECT_EQ(h.ops(i).knob_get(i->vgpu_data, knob, &v, nullptr, 0), 0);
  return v;
}

int restore_image(TestHost& h, TestInstance* i, std::vector<uint8_t> image, xvgpu_error& err) {
  VectorStream s;
  s.bytes = std::move(image);
  const xvgpu_stream in = s.stream();
  err = xvgpu_error{};
  return h.ops(i).restore_state(i->vgpu_data, &in, &err);
}

TEST(SimgpuSaveRestore, KnobsAndCountersTravelWithTheImage) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  const std::string uuid_a = "aaaaaaaa-0000-4000-8000-00000000000a";
  auto* a = host.create(0, {int_knob(kKnobEngineWeight, 250), int_knob(kKnobPriority, 1)}, nullptr, nullptr,
                        uuid_a);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(host.start(a), 0);
  Ring ring = setup_ring(host, a, TestHost::kRamBase + 0x2000, 16);
  submit(host, a, ring, {fill(0, 64, 1, 64, 7, 1), fill(64, 64, 1, 64, 8, 2), fill(~0u, 64, 1, 64, 8, 3)});
  EXPECT_NE(host.write(a, 4, 0x7fc, 4, 1), 0);  // a refused register write
  const BochsProbe probe = bochs_probe(host, a);
  bochs_setmode(host, a, 64, 48, probe.mem);
  ASSERT_TRUE(with_device(uuid_a, [](SimgpuDevice& d) { (void)screenshot_png(d); }));
  const auto before = stats_of(host, a);
  ASSERT_EQ(before[kStatEngineJobs], 2u);
  ASSERT_EQ(before[kStatRejectedDescriptors], 1u);
  ASSERT_GE(before[kStatFrames], 1u);
  ASSERT_GE(before[kStatRefusedRegisterWrites], 1u);

  VectorStream saved;
  xvgpu_error err{};
  const xvgpu_stream out = saved.stream();
  ASSERT_EQ(host.ops(a).save_state(a->vgpu_data, &out, &err), 0) << err.message;

  auto* b = host.create(0);  // default knobs, zero counters
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(knob_of(host, b, kKnobEngineWeight), 100);
  ASSERT_EQ(restore_image(host, b, saved.bytes, err), 0) << err.message;
  EXPECT_EQ(knob_of(host, b, kKnobEngineWeight), 250);
  EXPECT_EQ(knob_of(host, b, kKnobPriority), 1);
  EXPECT_EQ(stats_of(host, b), before);
}

TEST(SimgpuSaveRestore, AcceptsVersion1Images) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  auto* b = host.create(0, {int_knob(kKnobEngineWeight, 300)});
  ASSERT_NE(b, nullptr);
  xvgpu_error err{};
  ASSERT_EQ(restore_image(host, b, {kStateImageV1.begin(), kStateImageV1.end()}, err), 0) << err.message;
  ASSERT_EQ(host.start(b), 0);
  EXPECT_EQ(dispi_read(host, b, 1), 320);  // XRES
  EXPECT_EQ(dispi_read(host, b, 2), 200);  // YRES
  EXPECT_EQ(dispi_read(host, b, 3), 32);   // BPP
  EXPECT_EQ(engine_read(host, b, kRegRingSize), 16u);
  EXPECT_EQ(engine_read(host, b, kRegRingBaseLo), TestHost::kRamBase + 0x2000);
  EXPECT_EQ(engine_read(host, b, kRegFence), 2u);
  EXPECT_EQ(engine_read(host, b, kRegFenceAddrLo), TestHost::kRamBase + 0x100);
  EXPECT_EQ(engine_read(host, b, kRegControl), 0u);
  vga_writeb(host, b, 0x3c7, 9);
  EXPECT_EQ(vga_readb(host, b, 0x3c9), 1);
  EXPECT_EQ(vga_readb(host, b, 0x3c9), 2);
  EXPECT_EQ(vga_readb(host, b, 0x3c9), 3);
  // A version 1 image carries no knobs or counters: the instance keeps its own.
  EXPECT_EQ(knob_of(host, b, kKnobEngineWeight), 300);
  EXPECT_EQ(stats_of(host, b)[kStatEngineJobs], 0u);

  // Damage behind a version 1 header is still found by the field checks.
  auto truncated = std::vector<uint8_t>(kStateImageV1.begin(), kStateImageV1.end() - 3);
  EXPECT_LT(restore_image(host, b, truncated, err), 0);
  EXPECT_NE(std::string(err.message).find("truncated"), std::string::npos) << err.message;
}

TEST(SimgpuSaveRestore, DamagedVersion2ImagesLeaveTheDeviceUntouched) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  auto* a = host.create(0, {int_knob(kKnobEngineWeight, 40)});
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(host.start(a), 0);
  Ring ring = setup_ring(host, a, TestHost::kRamBase + 0x2000, 16);
  submit(host, a, ring, {fill(0, 64, 1, 64, 7, 1)});
  VectorStream saved;
  xvgpu_error err{};
  const xvgpu_stream out = saved.stream();
  ASSERT_EQ(host.ops(a).save_state(a->vgpu_data, &out, &err), 0) << err.message;
  const auto good = saved.bytes;

  // The device moves on after the save; no damaged image may bring back (or disturb) anything.
  set_knob_ok(host, a, kKnobEngineWeight, 600);
  submit(host, a, ring, {fill(64, 64, 1, 64, 8, 2)});
  std::vector<uint64_t> regs;
  for (uint32_t r = 0; r <= kRegLastRegister; r += 4) regs.push_back(engine_read(host, a, r));
  const auto stats = stats_of(host, a);

  struct Case {
    const char* what;
    std::vector<uint8_t> image;
    const char* message;
  };
  std::vector<Case> cases;
  auto flipped = good;
  flipped[good.size() / 2] ^= 0x10;
  cases.push_back({"one bit flipped", flipped, "CRC-32"});
  auto crc_flipped = good;
  crc_flipped.back() ^= 1;
  cases.push_back({"checksum damaged", crc_flipped, "CRC-32"});
  cases.push_back({"truncated", {good.begin(), good.end() - 1}, "truncated"});
  cases.push_back({"header only", {good.begin(), good.begin() + 16}, "truncated"});
  auto longer = good;
  longer.push_back(0);
  cases.push_back({"trailing byte", longer, "trailing"});
  auto future = good;
  future[8] = 3;
  cases.push_back({"future version", future, "version 3 is not supported"});
  auto weight = good;
  const size_t weight_at = good.size() - 4 - 4 - 7 * 8 - 1 - 4;
  weight[weight_at] = 0xe9;  // 1001 = 0x3e9
  weight[weight_at + 1] = 0x03;
  reseal(weight);
  cases.push_back({"weight out of range", weight, "engine weight 1001"});
  auto priority = good;
  priority[weight_at + 4] = 2;
  reseal(priority);
  cases.push_back({"unknown priority", priority, "priority"});
  for (const auto& c : cases) {
    EXPECT_LT(restore_image(host, a, c.image, err), 0) << c.what;
    EXPECT_NE(std::string(err.message).find(c.message), std::string::npos) << c.what << ": " << err.message;
  }
  std::vector<uint64_t> regs_after;
  for (uint32_t r = 0; r <= kRegLastRegister; r += 4) regs_after.push_back(engine_read(host, a, r));
  EXPECT_EQ(regs_after, regs);
  EXPECT_EQ(stats_of(host, a), stats);
  EXPECT_EQ(knob_of(host, a, kKnobEngineWeight), 600);
  // And the good image still restores.
  EXPECT_EQ(restore_image(host, a, good, err), 0) << err.message;
  EXPECT_EQ(knob_of(host, a, kKnobEngineWeight), 40);
}

TEST(SimgpuPlugin, LoadsThroughDlopenWithOnlyTheEntryExported) {
  void* so = dlopen(XVGPU_SIMGPU_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(so, nullptr) << dlerror();
  auto entry = reinterpret_cast<xvgpu_vendor_entry_fn>(dlsym(so, XVGPU_VENDOR_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(dlsym(so, "xvgpu_simgpu_register_builtin"), nullptr) << "only the entry point is exported";
  const xvgpu_vendor* v = entry();
  EXPECT_EQ(v->abi_major, XVGPU_VENDOR_ABI_MAJOR);
  EXPECT_EQ(v->abi_minor, XVGPU_VENDOR_ABI_MINOR);
  EXPECT_EQ(v->struct_size, sizeof(xvgpu_vendor));
  EXPECT_STREQ(v->name, "simgpu");
  EXPECT_NE(v, simgpu_vendor()) << "the plugin has its own copy";
  {
    TestHost host;
    ASSERT_EQ(host.load(v), 0);
    ASSERT_EQ(host.pgpus().size(), 1u);
    auto* inst = host.create(0);
    ASSERT_NE(inst, nullptr);
    EXPECT_EQ(dispi_read(host, inst, 0), 0xB0C5);
  }
  dlclose(so);
}

}  // namespace
}  // namespace xvgpu::simgpu::test
