#include "ioreq/xen_guest_memory.h"

#include <fmt/format.h>

#include <cstring>

namespace xvgpu::ioreq {

namespace {
class PinnedMapping final : public gpu::GuestMapping {
 public:
  PinnedMapping(MapCache::Pin pin, bool writable, std::shared_ptr<DirtyLog> dirty)
      : pin_(std::move(pin)), writable_(writable), dirty_(std::move(dirty)) {}
  PinnedMapping(const PinnedMapping&) = delete;
  PinnedMapping& operator=(const PinnedMapping&) = delete;
  ~PinnedMapping() override {
    if (writable_) {
      dirty_->report(pin_.gpa(), pin_.bytes().size());
    }
  }
  std::span<std::byte> bytes() override { return pin_.bytes(); }
  [[nodiscard]] uint64_t gpa() const override { return pin_.gpa(); }
  [[nodiscard]] bool writable() const override { return writable_; }

 private:
  MapCache::Pin pin_;
  bool writable_;
  std::shared_ptr<DirtyLog> dirty_;
};
}  // namespace

template <typename Fn>
void XenGuestMemory::for_each_piece(uint64_t gpa, uint64_t len, Fn&& fn) {
  if (len == 0) {
    return;
  }
  if (gpa > UINT64_MAX - (len - 1)) {
    throw gpu::GuestMemoryError(
        gpa, fmt::format("guest memory at {:#x}: range of {} bytes wraps around", gpa, len));
  }
  const uint64_t bucket = cache_->bucket_bytes();
  uint64_t done = 0;
  while (done < len) {
    const uint64_t at = gpa + done;
    const uint64_t piece = std::min(len - done, bucket - (at & (bucket - 1)));
    fn(cache_->pin(at, piece), done);
    done += piece;
  }
}

void XenGuestMemory::read(uint64_t gpa, std::span<std::byte> out) {
  for_each_piece(gpa, out.size(), [&](const MapCache::Pin& pin, uint64_t offset) {
    std::memcpy(out.data() + offset, pin.bytes().data(), pin.bytes().size());
  });
}

void XenGuestMemory::write(uint64_t gpa, std::span<const std::byte> in) {
  for_each_piece(gpa, in.size(), [&](const MapCache::Pin& pin, uint64_t offset) {
    std::memcpy(pin.bytes().data(), in.data() + offset, pin.bytes().size());
  });
  dirty_->report(gpa, in.size());
}

std::unique_ptr<gpu::GuestMapping> XenGuestMemory::map(uint64_t gpa, uint64_t len, bool writable) {
  return std::make_unique<PinnedMapping>(cache_->pin(gpa, len), writable, dirty_);
}

}  // namespace xvgpu::ioreq
