// The simgpu MMIO BAR (BAR2), laid out as the QEMU standard VGA's and as the Linux bochs
// driver reads it:
//   0x000-0x3ff  EDID blob (128-byte base block, zero padded)
//   0x400-0x41f  VGA I/O ports 0x3c0-0x3df; a 16-bit write hits port and port + 1 (index first)
//   0x500-0x515  DISPI registers, register i at 0x500 + 2 * i
//   0x600-0x607  QEMU extended registers: 0x600 size of this block, 0x604 framebuffer endianness
// Everything else is a hole: reads and writes there are refused (the core answers all ones
// and counts them).
#pragma once

#include <cstdint>
#include <optional>

#include "vendor/simgpu/dispi_registers.h"
#include "vendor/simgpu/edid_block.h"
#include "vendor/simgpu/vga_register_mirror.h"

namespace xvgpu::simgpu {

namespace mmio {
inline constexpr uint64_t kBarSize = 4096;
inline constexpr uint64_t kEdidOffset = 0x000;
inline constexpr uint64_t kEdidWindow = 0x400;
inline constexpr uint64_t kVgaOffset = 0x400;
inline constexpr uint64_t kDispiOffset = 0x500;
inline constexpr uint64_t kQextOffset = 0x600;
inline constexpr uint64_t kQextSize = 8;
inline constexpr uint64_t kQextRegSize = 0x600;
inline constexpr uint64_t kQextRegEndian = 0x604;
inline constexpr uint32_t kLittleEndianMagic = 0x1e1e1e1e;
inline constexpr uint32_t kBigEndianMagic = 0xbebebebe;
}  // namespace mmio

class DisplayRegisters {
 public:
  DisplayRegisters(uint64_t vram_size, uint32_t max_width, uint32_t max_height, const EdidBlock& edid);

  // offset/size as dispatched by the core (naturally aligned, size 1, 2 or 4).
  std::optional<uint64_t> read(uint64_t offset, uint32_t size);
  // Returns false for refused writes. *clear_bytes: bytes at the start of VRAM to clear
  // (a DISPI enable without NOCLEARMEM).
  bool write(uint64_t offset, uint32_t size, uint64_t value, uint64_t* clear_bytes);

  [[nodiscard]] const DispiRegisters& dispi() const { return dispi_; }
  [[nodiscard]] DispiRegisters& dispi() { return dispi_; }
  [[nodiscard]] const VgaRegisterMirror& vga() const { return vga_; }
  [[nodiscard]] VgaRegisterMirror& vga() { return vga_; }
  [[nodiscard]] bool big_endian() const { return big_endian_; }
  void set_big_endian(bool big) { big_endian_ = big; }
  [[nodiscard]] const EdidBlock& edid() const { return edid_; }
  void reset();

 private:
  uint8_t read_byte(uint64_t offset);

  DispiRegisters dispi_;
  VgaRegisterMirror vga_;
  EdidBlock edid_;
  bool big_endian_ = false;
};

}  // namespace xvgpu::simgpu
