// RAII owner of a private anonymous mapping: memory that reads as zero and costs nothing until
// touched (the kernel supplies zero pages on first access). Used where a device needs a large
// zero-initialised buffer of which a guest typically touches little (VRAM served by trapping).
#pragma once

#include <cstddef>
#include <span>
#include <utility>

namespace xvgpu {

class ZeroedMemory {
 public:
  ZeroedMemory() = default;
  // Throws SystemError when the mapping cannot be made.
  explicit ZeroedMemory(size_t size);
  ZeroedMemory(const ZeroedMemory&) = delete;
  ZeroedMemory& operator=(const ZeroedMemory&) = delete;
  ZeroedMemory(ZeroedMemory&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ZeroedMemory& operator=(ZeroedMemory&& o) noexcept;
  ~ZeroedMemory();

  [[nodiscard]] std::span<std::byte> bytes() const { return {data_, size_}; }
  [[nodiscard]] size_t size() const { return size_; }
  // Back to all zeros, giving the touched pages back to the kernel.
  void clear() noexcept;

 private:
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace xvgpu
