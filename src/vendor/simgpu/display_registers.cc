#include "vendor/simgpu/display_registers.h"

namespace xvgpu::simgpu {

namespace {
bool in(uint64_t offset, uint32_t size, uint64_t first, uint64_t length) {
  return offset >= first && offset + size <= first + length;
}
constexpr uint64_t kVgaWindow = vga::kLastPort - vga::kFirstPort + 1;
constexpr uint64_t kDispiWindow = uint64_t{dispi::kRegisterCount} * 2;
}  // namespace

DisplayRegisters::DisplayRegisters(uint64_t vram_size, uint32_t max_width, uint32_t max_height,
                                   const EdidBlock& edid)
    : dispi_(vram_size, max_width, max_height), edid_(edid) {}

void DisplayRegisters::reset() {
  dispi_.reset();
  vga_.reset();
  big_endian_ = false;
}

uint8_t DisplayRegisters::read_byte(uint64_t offset) {
  if (offset < kEdidBlockSize) return edid_[offset];
  if (offset < mmio::kEdidWindow) return 0;
  if (in(offset, 1, mmio::kVgaOffset, kVgaWindow)) {
    return vga_.read(static_cast<uint16_t>(vga::kFirstPort + (offset - mmio::kVgaOffset)));
  }
  if (in(offset, 1, mmio::kDispiOffset, kDispiWindow)) {
    const uint64_t rel = offset - mmio::kDispiOffset;
    return static_cast<uint8_t>(dispi_.read(static_cast<uint16_t>(rel / 2)) >> (8 * (rel % 2)));
  }
  if (in(offset, 1, mmio::kQextOffset, mmio::kQextSize)) {
    const uint64_t rel = offset - mmio::kQextOffset;
    const uint32_t reg = rel < 4 ? static_cast<uint32_t>(mmio::kQextSize)
                                 : (big_endian_ ? mmio::kBigEndianMagic : mmio::kLittleEndianMagic);
    return static_cast<uint8_t>(reg >> (8 * (rel % 4)));
  }
  return 0xff;
}

std::optional<uint64_t> DisplayRegisters::read(uint64_t offset, uint32_t size) {
  if (size == 0 || size > 4 || offset % size != 0 || offset >= mmio::kBarSize) return std::nullopt;
  const bool mapped = in(offset, size, mmio::kEdidOffset, mmio::kEdidWindow) ||
                      in(offset, size, mmio::kVgaOffset, kVgaWindow) ||
                      in(offset, size, mmio::kDispiOffset, kDispiWindow) ||
                      in(offset, size, mmio::kQextOffset, mmio::kQextSize);
  if (!mapped) return std::nullopt;
  // Bytes in ascending order, assembled little endian (VGA: index port first).
  uint64_t value = 0;
  for (uint32_t i = 0; i < size; ++i) value |= uint64_t{read_byte(offset + i)} << (8 * i);
  return value;
}

bool DisplayRegisters::write(uint64_t offset, uint32_t size, uint64_t value, uint64_t* clear_bytes) {
  *clear_bytes = 0;
  if (size == 0 || size > 4 || offset % size != 0 || offset >= mmio::kBarSize) return false;
  if (in(offset, size, mmio::kVgaOffset, kVgaWindow)) {
    for (uint32_t i = 0; i < size; ++i) {
      vga_.write(static_cast<uint16_t>(vga::kFirstPort + (offset - mmio::kVgaOffset) + i),
                 static_cast<uint8_t>(value >> (8 * i)));
    }
    return true;
  }
  if (in(offset, size, mmio::kDispiOffset, kDispiWindow)) {
    const uint64_t rel = offset - mmio::kDispiOffset;
    if (size == 1) {
      // Byte write: read-modify-write of the 16-bit register.
      const auto index = static_cast<uint16_t>(rel / 2);
      const unsigned shift = 8 * (rel % 2);
      const auto old = dispi_.read(index);
      const auto merged = static_cast<uint16_t>((old & ~(0xff << shift)) | ((value & 0xff) << shift));
      *clear_bytes = dispi_.write(index, merged);
      return true;
    }
    for (uint32_t i = 0; i < size / 2; ++i) {
      const uint64_t cleared =
          dispi_.write(static_cast<uint16_t>(rel / 2 + i), static_cast<uint16_t>(value >> (16 * i)));
      if (cleared > *clear_bytes) *clear_bytes = cleared;
    }
    return true;
  }
  if (offset == mmio::kQextRegEndian && size == 4) {
    if (value == mmio::kBigEndianMagic) {
      big_endian_ = true;
      return true;
    }
    if (value == mmio::kLittleEndianMagic) {
      big_endian_ = false;
      return true;
    }
    return false;
  }
  return false;  // EDID, the size register and holes are read-only
}

}  // namespace xvgpu::simgpu
