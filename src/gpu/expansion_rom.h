// A PCI expansion ROM image the vGPU exposes through its ROM BAR (config offset 0x30), e.g.
// SeaVGABIOS, so that a guest's BIOS runs it and firmware text appears on the vGPU.
//
// The image is checked once, when it is given (operator input): the 0x55AA signature, the
// length in 512-byte blocks the header declares, a zero checksum over those blocks (SeaBIOS
// refuses the ROM otherwise), and the "PCIR" data structure whose vendor/device IDs a BIOS
// compares with the device's before it runs the code. Immutable afterwards: guest reads are
// served from it, guest writes to the BAR change nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace xvgpu::gpu {

class ExpansionRom {
 public:
  // A ROM BAR decodes at least 2 KiB (address bits 31..11); more than 1 MiB is no option ROM a
  // PC BIOS could shadow below 1 MiB.
  static constexpr uint64_t kMinBarSize = 2048;
  static constexpr uint64_t kMaxImageSize = uint64_t{1} << 20;

  // Throws Error naming the first problem found in the image.
  explicit ExpansionRom(std::vector<uint8_t> image);

  [[nodiscard]] uint16_t vendor_id() const { return vendor_id_; }
  [[nodiscard]] uint16_t device_id() const { return device_id_; }
  // The BAR's size: the image rounded up to a power of two, at least kMinBarSize.
  [[nodiscard]] uint64_t bar_size() const { return bar_size_; }
  [[nodiscard]] std::span<const uint8_t> image() const { return image_; }
  // Little-endian value of `size` bytes at `offset` of the BAR; bytes past the image read 0xff
  // (an erased ROM). Offsets beyond the BAR read 0xff too.
  [[nodiscard]] uint64_t read(uint64_t offset, unsigned size) const noexcept;
  // "1234:1111" for messages.
  [[nodiscard]] std::string ids_text() const;

 private:
  std::vector<uint8_t> image_;
  uint64_t bar_size_ = 0;
  uint16_t vendor_id_ = 0;
  uint16_t device_id_ = 0;
};

}  // namespace xvgpu::gpu
