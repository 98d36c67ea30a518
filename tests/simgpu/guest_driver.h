// What a guest driver does to a simgpu, written down once for the tests and the benchmark:
// the Linux bochs driver's probe and mode-set sequences (register by register, in its order),
// and programming the engine's command ring.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "descriptors.h"
#include "test_host.h"
#include "vendor/simgpu/display_registers.h"
#include "vendor/simgpu/engine_interface.h"

namespace xvgpu::simgpu::test {

inline constexpr uint32_t kRegs = 2;    // BAR2: display registers
inline constexpr uint32_t kEngine = 4;  // BAR4: engine

// The guest's view of one simgpu: BAR-relative MMIO accesses. TestHost-backed here; the core
// integration test provides one that goes through the core's device bus.
struct HostDev {
  TestHost& h;
  TestInstance* i;
  uint64_t rd(uint32_t bar, uint64_t off, uint32_t size) { return h.read(i, bar, off, size); }
  void wr(uint32_t bar, uint64_t off, uint32_t size, uint64_t v) { h.write(i, bar, off, size, v); }
};

template <class Dev>
uint16_t dispi_read(Dev& d, uint16_t reg) {
  return static_cast<uint16_t>(d.rd(kRegs, 0x500 + (reg << 1), 2));
}
template <class Dev>
void dispi_write(Dev& d, uint16_t reg, uint16_t val) {
  d.wr(kRegs, 0x500 + (reg << 1), 2, val);
}
template <class Dev>
void vga_writeb(Dev& d, uint16_t port, uint8_t val) {
  d.wr(kRegs, port - 0x3c0 + 0x400, 1, val);
}
template <class Dev>
uint8_t vga_readb(Dev& d, uint16_t port) {
  return static_cast<uint8_t>(d.rd(kRegs, port - 0x3c0 + 0x400, 1));
}

struct BochsProbe {
  uint16_t id = 0;
  uint64_t mem = 0;
  uint32_t qext_size = 0;
};

// bochs_hw_init() with an MMIO BAR, revision >= 2.
template <class Dev>
BochsProbe bochs_probe(Dev& d) {
  BochsProbe p;
  p.id = dispi_read(d, 0x0);
  p.mem = uint64_t{dispi_read(d, 0xa)} * 64 * 1024;
  p.qext_size = static_cast<uint32_t>(d.rd(kRegs, 0x600, 4));
  if (p.qext_size >= 8) d.wr(kRegs, 0x604, 4, 0x1e1e1e1e);  // native (little) endian
  return p;
}

// bochs_hw_blank()
template <class Dev>
void bochs_blank(Dev& d, bool blank) {
  vga_writeb(d, 0x3c2, 0x01);  // VGA_MIS_W <- VGA_MIS_COLOR
  (void)vga_readb(d, 0x3da);   // VGA_IS1_RC: reset the attribute flip-flop
  vga_writeb(d, 0x3c0, blank ? 0 : 0x20);
}

// bochs_hw_setmode() for a 32 bpp mode; fb_size is the VRAM size the driver found.
template <class Dev>
void bochs_setmode(Dev& d, uint16_t xres, uint16_t yres, uint64_t fb_size) {
  const uint32_t bpp = 32;
  const uint32_t stride = xres * (bpp / 8);
  const auto yres_virtual = static_cast<uint16_t>(fb_size / stride);
  bochs_blank(d, false);
  dispi_write(d, 0x4, 0);  // ENABLE
  dispi_write(d, 0x3, bpp);
  dispi_write(d, 0x1, xres);
  dispi_write(d, 0x2, yres);
  dispi_write(d, 0x5, 0);  // BANK
  dispi_write(d, 0x6, xres);
  dispi_write(d, 0x7, yres_virtual);
  dispi_write(d, 0x8, 0);
  dispi_write(d, 0x9, 0);
  dispi_write(d, 0x4, 0x01 | 0x40);  // ENABLED | LFB_ENABLED
}

// bochs_hw_setbase() (32 bpp) followed by bochs_hw_setformat(XRGB8888 or BGRX8888).
template <class Dev>
void bochs_setbase(Dev& d, int x, int y, uint32_t stride, uint64_t addr, bool big_endian = false) {
  const uint32_t bpp = 32;
  const uint64_t offset = addr + uint64_t(y) * stride + uint64_t(x) * (bpp / 8);
  const auto vy = static_cast<uint16_t>(offset / stride);
  const auto vx = static_cast<uint16_t>((offset % stride) * 8 / bpp);
  const auto vwidth = static_cast<uint16_t>(stride * 8 / bpp);
  dispi_write(d, 0x6, vwidth);
  dispi_write(d, 0x8, vx);
  dispi_write(d, 0x9, vy);
  d.wr(kRegs, 0x604, 4, big_endian ? 0xbebebebe : 0x1e1e1e1e);
}

// TestHost shorthands.
inline uint16_t dispi_read(TestHost& h, TestInstance* i, uint16_t reg) {
  HostDev d{h, i};
  return dispi_read(d, reg);
}
inline void dispi_write(TestHost& h, TestInstance* i, uint16_t reg, uint16_t val) {
  HostDev d{h, i};
  dispi_write(d, reg, val);
}
inline void vga_writeb(TestHost& h, TestInstance* i, uint16_t port, uint8_t val) {
  HostDev d{h, i};
  vga_writeb(d, port, val);
}
inline uint8_t vga_readb(TestHost& h, TestInstance* i, uint16_t port) {
  HostDev d{h, i};
  return vga_readb(d, port);
}
inline BochsProbe bochs_probe(TestHost& h, TestInstance* i) {
  HostDev d{h, i};
  return bochs_probe(d);
}
inline void bochs_blank(TestHost& h, TestInstance* i, bool blank) {
  HostDev d{h, i};
  bochs_blank(d, blank);
}
inline void bochs_setmode(TestHost& h, TestInstance* i, uint16_t xres, uint16_t yres, uint64_t fb_size) {
  HostDev d{h, i};
  bochs_setmode(d, xres, yres, fb_size);
}
inline void bochs_setbase(TestHost& h, TestInstance* i, int x, int y, uint32_t stride, uint64_t addr,
                          bool big_endian = false) {
  HostDev d{h, i};
  bochs_setbase(d, x, y, stride, addr, big_endian);
}

// A command ring in guest RAM and the driver-side bookkeeping.
struct Ring {
  uint64_t gpa = 0;
  uint32_t size = 0;
  uint32_t tail = 0;
};

inline uint32_t engine_read(TestHost& h, TestInstance* i, uint32_t reg) {
  return static_cast<uint32_t>(h.read(i, kEngine, reg, 4));
}
inline void engine_write(TestHost& h, TestInstance* i, uint32_t reg, uint32_t v) {
  h.write(i, kEngine, reg, 4, v);
}

inline Ring setup_ring(TestHost& h, TestInstance* i, uint64_t gpa, uint32_t size,
                       uint32_t irq_mask = engine::kIrqCompletion | engine::kIrqError) {
  engine_write(h, i, engine::kRegControl, engine::kControlReset);
  engine_write(h, i, engine::kRegRingBaseLo, static_cast<uint32_t>(gpa));
  engine_write(h, i, engine::kRegRingBaseHi, static_cast<uint32_t>(gpa >> 32));
  engine_write(h, i, engine::kRegRingSize, size);
  engine_write(h, i, engine::kRegIrqMask, irq_mask);
  engine_write(h, i, engine::kRegControl, engine::kControlEnable);
  return Ring{gpa, size, 0};
}

// Writes descriptors at the tail, rings the doorbell once and waits for the worker.
inline void submit(TestHost& h, TestInstance* i, Ring& ring, const std::vector<engine::Descriptor>& descs,
                   bool wait = true) {
  for (const auto& d : descs) {
    std::memcpy(h.gpa(ring.gpa + uint64_t{ring.tail} * engine::kDescriptorSize), &d, sizeof d);
    ring.tail = (ring.tail + 1) % ring.size;
  }
  engine_write(h, i, engine::kRegDoorbell, ring.tail);
  if (wait) h.drain(i);
}

inline engine::Descriptor copy_to_vram(uint64_t gpa, uint64_t vram, uint32_t len, uint32_t seq,
                                       bool irq = true) {
  return linear_copy(engine::kOpCopyToVram, gpa, vram, len, seq, irq);
}
inline engine::Descriptor copy_from_vram(uint64_t vram, uint64_t gpa, uint32_t len, uint32_t seq,
                                         bool irq = true) {
  return linear_copy(engine::kOpCopyFromVram, vram, gpa, len, seq, irq);
}
inline engine::Descriptor fill(uint64_t vram, uint32_t width, uint32_t height, uint32_t pitch, uint32_t value,
                               uint32_t seq, bool irq = true) {
  engine::Descriptor d{};
  d.opcode = engine::kOpFill;
  d.flags = irq ? engine::kFlagIrq : 0;
  d.seqno = seq;
  d.dst = vram;
  d.width = width;
  d.height = height;
  d.dst_pitch = pitch;
  d.fill_value = value;
  return d;
}
inline engine::Descriptor blit(uint64_t src, uint64_t dst, uint32_t width, uint32_t height,
                               uint32_t src_pitch, uint32_t dst_pitch, uint32_t seq, bool irq = true) {
  engine::Descriptor d{};
  d.opcode = engine::kOpBlit;
  d.flags = irq ? engine::kFlagIrq : 0;
  d.seqno = seq;
  d.src = src;
  d.dst = dst;
  d.width = width;
  d.height = height;
  d.src_pitch = src_pitch;
  d.dst_pitch = dst_pitch;
  return d;
}

// FNV-1a over a byte range: the tests' data checksum.
inline uint64_t checksum(const std::byte* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t k = 0; k < n; ++k) {
    h ^= static_cast<uint8_t>(p[k]);
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace xvgpu::simgpu::test
