// The legacy VGA and Bochs VBE ports (vendor ABI 1.1 legacy I/O ranges), at simgpu's ABI:
// accesses arrive as the core routes them, region XVGPU_REGION_LEGACY_IO + range.
#include <gtest/gtest.h>

#include <cstring>

#include "guest_driver.h"
#include "test_host.h"
#include "vendor/simgpu/simgpu_types.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::simgpu::test {
namespace {

constexpr uint32_t kVga = XVGPU_REGION_LEGACY_IO + kLegacyVga;
constexpr uint32_t kVbe = XVGPU_REGION_LEGACY_IO + kLegacyVbe;

void vbe_out(TestHost& h, TestInstance* i, uint16_t index, uint16_t value) {
  ASSERT_EQ(h.write(i, kVbe, 0, 2, index), 0);
  ASSERT_EQ(h.write(i, kVbe, 1, 2, value), 0);
}
uint64_t vbe_in(TestHost& h, TestInstance* i, uint16_t index) {
  EXPECT_EQ(h.write(i, kVbe, 0, 2, index), 0);
  return h.read(i, kVbe, 1, 2);
}

TEST(SimgpuLegacyPorts, DeclaredInEveryTypeLayout) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  const auto* desc = host.pgpus().at(0).desc;
  for (uint32_t t = 0; t < desc->num_types; ++t) {
    const auto* layout = desc->types[t]->layout;
    ASSERT_EQ(layout->num_legacy_io, 2u);
    EXPECT_EQ(layout->legacy_io[kLegacyVga]->first_port, 0x3c0);
    EXPECT_EQ(layout->legacy_io[kLegacyVga]->num_ports, 32);
    EXPECT_EQ(layout->legacy_io[kLegacyVga]->flags, 0u);
    EXPECT_EQ(layout->legacy_io[kLegacyVbe]->first_port, 0x1ce);
    EXPECT_EQ(layout->legacy_io[kLegacyVbe]->num_ports, 3) << "a 16-bit OUT to 0x1cf covers 0x1d0";
    EXPECT_EQ(layout->legacy_io[kLegacyVbe]->flags, uint32_t{XVGPU_LEGACY_IO_UNALIGNED});
  }
}

TEST(SimgpuLegacyPorts, VbePortsAreTheDispiRegisters) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  auto* inst = host.create(0);
  ASSERT_NE(inst, nullptr);
  EXPECT_EQ(vbe_in(host, inst, 0), dispi_read(host, inst, 0)) << "ID";
  vbe_out(host, inst, 1, 640);
  vbe_out(host, inst, 2, 480);
  vbe_out(host, inst, 3, 32);
  EXPECT_EQ(dispi_read(host, inst, 1), 640);
  EXPECT_EQ(dispi_read(host, inst, 2), 480);
  EXPECT_EQ(dispi_read(host, inst, 3), 32);
  EXPECT_EQ(host.read(inst, kVbe, 0, 2), 3u) << "the index port reads back";
  // Enabling through the ports clears the frame like the MMIO path does.
  std::memset(inst->vram.data(), 0xab, 4096);
  vbe_out(host, inst, 4, 0x01);  // ENABLE
  EXPECT_EQ(dispi_read(host, inst, 4) & 1, 1);
  EXPECT_EQ(inst->vram[0], std::byte{0});

  int rc = 0;
  EXPECT_EQ(host.read(inst, kVbe, 1, 1, &rc), 0xffu) << "byte access refused";
  EXPECT_LT(rc, 0);
  EXPECT_LT(host.write(inst, kVbe, 2, 2, 1), 0) << "0x1d0 is not a port of its own";
  ASSERT_EQ(host.write(inst, kVbe, 0, 2, 0x7fff), 0);
  EXPECT_LT(host.write(inst, kVbe, 1, 2, 1), 0) << "no DISPI register 0x7fff";
  host.read(inst, kVbe, 1, 2, &rc);
  EXPECT_LT(rc, 0);
}

TEST(SimgpuLegacyPorts, VgaPortsAreTheMmioMirror) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  auto* inst = host.create(0);
  ASSERT_NE(inst, nullptr);
  ASSERT_EQ(host.write(inst, kVga, 0x3c8 - 0x3c0, 1, 7), 0);  // DAC write index
  for (const uint64_t c : {4u, 5u, 6u}) ASSERT_EQ(host.write(inst, kVga, 0x3c9 - 0x3c0, 1, c), 0);
  vga_writeb(host, inst, 0x3c7, 7);  // read index, through BAR2
  EXPECT_EQ(vga_readb(host, inst, 0x3c9), 4);
  EXPECT_EQ(host.read(inst, kVga, 0x3c9 - 0x3c0, 1), 5u);
  EXPECT_EQ(vga_readb(host, inst, 0x3c9), 6);
  int rc = 0;
  host.read(inst, kVga, 32, 1, &rc);
  EXPECT_LT(rc, 0) << "past 0x3df";
}

TEST(SimgpuLegacyPorts, VbeIndexIsSavedAndReset) {
  TestHost host;
  ASSERT_EQ(host.load(simgpu_vendor()), 0);
  auto* a = host.create(0);
  auto* b = host.create(0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(host.write(a, kVbe, 0, 2, 2), 0);
  std::vector<uint8_t> image;
  const xvgpu_stream out{&image,
                         [](void* ctx, const void* data, size_t len) {
                           auto* v = static_cast<std::vector<uint8_t>*>(ctx);
                           v->insert(v->end(), static_cast<const uint8_t*>(data),
                                     static_cast<const uint8_t*>(data) + len);
                           return 0;
                         },
                         nullptr};
  xvgpu_error err{};
  ASSERT_EQ(host.ops(a).save_state(a->vgpu_data, &out, &err), 0) << err.message;
  struct Reader {
    const std::vector<uint8_t>* bytes;
    size_t pos = 0;
  } reader{&image};
  const xvgpu_stream in{&reader, nullptr, [](void* ctx, void* data, size_t len) -> int64_t {
                          auto* r = static_cast<Reader*>(ctx);
                          const size_t n = std::min(len, r->bytes->size() - r->pos);
                          std::memcpy(data, r->bytes->data() + r->pos, n);
                          r->pos += n;
                          return static_cast<int64_t>(n);
                        }};
  ASSERT_EQ(host.ops(b).restore_state(b->vgpu_data, &in, &err), 0) << err.message;
  EXPECT_EQ(host.read(b, kVbe, 0, 2), 2u);
  ASSERT_EQ(host.ops(b).reset(b->vgpu_data, &err), 0);
  EXPECT_EQ(host.read(b, kVbe, 0, 2), 0u);
}

}  // namespace
}  // namespace xvgpu::simgpu::test
