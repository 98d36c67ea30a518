#include "common/zeroed_memory.h"

#include <sys/mman.h>

#include <cstring>
#include <string>

#include "common/error.h"

namespace xvgpu {

ZeroedMemory::ZeroedMemory(size_t size) : size_(size) {
  if (size == 0) {
    return;
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    check_errno(-1, "mapping " + std::to_string(size) + " bytes of zeroed memory");
  }
  data_ = static_cast<std::byte*>(p);
}

ZeroedMemory& ZeroedMemory::operator=(ZeroedMemory&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) {
      ::munmap(data_, size_);
    }
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

ZeroedMemory::~ZeroedMemory() {
  if (data_ != nullptr) {
    ::munmap(data_, size_);
  }
}

void ZeroedMemory::clear() noexcept {
  // A private anonymous mapping reads as zero again after MADV_DONTNEED; should the kernel
  // refuse, zero it by hand.
  if (data_ != nullptr && ::madvise(data_, size_, MADV_DONTNEED) != 0) {
    std::memset(data_, 0, size_);
  }
}

}  // namespace xvgpu
