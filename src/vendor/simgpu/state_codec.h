// Little-endian encoding of simgpu device state for save/restore. The reader bounds every
// read: a truncated or tampered image fails with xvgpu::Error, never reads past its end.
// crc32() seals an image so that damage is refused before any field is interpreted.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace xvgpu::simgpu {

// CRC-32 (IEEE 802.3, as zlib's crc32) of data.
uint32_t crc32(std::span<const uint8_t> data);

class StateWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void bytes(std::span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  // Overwrites 4 bytes at `at` (a length field written before the size was known).
  void patch_u32(size_t at, uint32_t v) {
    for (unsigned i = 0; i < 4; ++i) bytes_.at(at + i) = static_cast<uint8_t>(v >> (8 * i));
  }
  [[nodiscard]] size_t size() const { return bytes_.size(); }
  [[nodiscard]] const std::vector<uint8_t>& data() const { return bytes_; }

 private:
  void put(uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> bytes_;
};

class StateReader {
 public:
  explicit StateReader(std::span<const uint8_t> data) : data_(data) {}
  uint8_t u8() { return static_cast<uint8_t>(get(1)); }
  uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  uint64_t u64() { return get(8); }
  bool boolean();
  void bytes(std::span<uint8_t> out);
  [[nodiscard]] bool at_end() const { return pos_ == data_.size(); }

 private:
  uint64_t get(unsigned n);
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

}  // namespace xvgpu::simgpu
