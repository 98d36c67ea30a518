// Reads typed values from a fuzzer's byte string; past the end everything reads as zero, so a
// target never needs to check the length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace xvgpu::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data, size) {}

  [[nodiscard]] bool empty() const { return pos_ >= data_.size(); }
  [[nodiscard]] size_t remaining() const { return empty() ? 0 : data_.size() - pos_; }

  template <typename T>
  T take() {
    T v{};
    const size_t n = remaining() < sizeof v ? remaining() : sizeof v;
    if (n != 0) std::memcpy(&v, data_.data() + pos_, n);
    pos_ += sizeof v;
    return v;
  }
  uint8_t u8() { return take<uint8_t>(); }
  uint16_t u16() { return take<uint16_t>(); }
  uint32_t u32() { return take<uint32_t>(); }
  uint64_t u64() { return take<uint64_t>(); }
  bool flag() { return (u8() & 1) != 0; }

  // Up to max bytes, the length taken from the input first.
  std::string text(size_t max) {
    const size_t n = u8() % (max + 1);
    std::string s;
    for (size_t i = 0; i < n && !empty(); ++i) s.push_back(static_cast<char>(u8()));
    return s;
  }
  // Copies the rest of the input into out (zero-filled past the end) and consumes it.
  void fill(std::span<std::byte> out) {
    for (auto& b : out) b = static_cast<std::byte>(u8());
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// An invariant broke: print why and abort, which libFuzzer reports as a crash.
[[noreturn]] void violation(const char* what);

}  // namespace xvgpu::fuzz
