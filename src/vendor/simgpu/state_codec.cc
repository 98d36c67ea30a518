#include "vendor/simgpu/state_codec.h"

#include <algorithm>

#include "common/error.h"

namespace xvgpu::simgpu {

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
