#include "vendor/simgpu/state_codec.h"

#include <algorithm>
#include <array>

#include "common/error.h"

namespace xvgpu::simgpu {

uint32_t crc32(std::span<const uint8_t> data) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xffffffffu;
  for (const uint8_t b : data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

uint64_t StateReader::get(unsigned n) {
  if (data_.size() - pos_ < n) throw Error("simgpu state image is truncated");
  uint64_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= uint64_t{data_[pos_ + i]} << (8 * i);
  pos_ += n;
  return v;
}

bool StateReader::boolean() {
  const uint8_t v = u8();
  if (v > 1) throw Error("simgpu state image has a malformed flag");
  return v != 0;
}

void StateReader::bytes(std::span<uint8_t> out) {
  if (data_.size() - pos_ < out.size()) throw Error("simgpu state image is truncated");
  std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(pos_), out.size(), out.begin());
  pos_ += out.size();
}

}  // namespace xvgpu::simgpu
