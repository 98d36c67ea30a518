#include "gpu/expansion_rom.h"

#include <fmt/format.h>

#include <bit>
#include <numeric>

#include "common/error.h"

namespace xvgpu::gpu {

namespace {
constexpr size_t kBlock = 512;
constexpr size_t kLengthOffset = 0x02;       // image length in 512-byte blocks
constexpr size_t kPcirPointerOffset = 0x18;  // 16-bit offset of the PCI data structure
constexpr size_t kPcirSize = 0x18;
constexpr size_t kPcirVendor = 0x04;
constexpr size_t kPcirDevice = 0x06;

uint16_t le16(std::span<const uint8_t> b, size_t off) {
  return static_cast<uint16_t>(b[off] | b[off + 1] << 8);
}
}  // namespace

ExpansionRom::ExpansionRom(std::vector<uint8_t> image) : image_(std::move(image)) {
  const size_t n = image_.size();
  if (n < kBlock) {
    throw Error(fmt::format("{} bytes: an option ROM is at least one 512-byte block", n));
  }
  if (n > kMaxImageSize) {
    throw Error(
        fmt::format("{} bytes: more than the {} KiB an option ROM may have", n, kMaxImageSize / 1024));
  }
  if (image_[0] != 0x55 || image_[1] != 0xaa) {
    throw Error(
        fmt::format("no option ROM signature 55 aa at offset 0 (found {:02x} {:02x})", image_[0], image_[1]));
  }
  const size_t declared = size_t{image_[kLengthOffset]} * kBlock;
  if (declared == 0 || declared > n) {
    throw Error(fmt::format("the header declares {} bytes but the image has {}", declared, n));
  }
  const auto sum =
      static_cast<uint8_t>(std::accumulate(image_.begin(), image_.begin() + static_cast<long>(declared), 0u,
                                           [](unsigned a, uint8_t b) { return a + b; }));
  if (sum != 0) {
    throw Error(fmt::format("checksum of the first {} bytes is {:#04x}, not 0 (BIOSes refuse such a ROM)",
                            declared, sum));
  }
  const size_t pcir = le16(image_, kPcirPointerOffset);
  if (pcir == 0 || pcir % 4 != 0 || pcir + kPcirSize > n || image_[pcir] != 'P' || image_[pcir + 1] != 'C' ||
      image_[pcir + 2] != 'I' || image_[pcir + 3] != 'R') {
    throw Error(fmt::format("no PCI data structure (\"PCIR\") at offset {:#x}", pcir));
  }
  vendor_id_ = le16(image_, pcir + kPcirVendor);
  device_id_ = le16(image_, pcir + kPcirDevice);
  bar_size_ = std::max(kMinBarSize, std::bit_ceil(uint64_t{n}));
}

uint64_t ExpansionRom::read(uint64_t offset, unsigned size) const noexcept {
  uint64_t v = 0;
  for (unsigned i = 0; i < size && i < 8; ++i) {
    const uint64_t o = offset + i;
    const uint8_t b = o >= offset && o < image_.size() ? image_[o] : 0xff;
    v |= uint64_t{b} << (8 * i);
  }
  return v;
}

std::string ExpansionRom::ids_text() const {
  return fmt::format("{:04x}:{:04x}", vendor_id_, device_id_);
}

}  // namespace xvgpu::gpu
