// The core's services for one simgpu instance (include/xvgpu/vendor.h struct xvgpu_host_api),
// wrapped for C++: guest memory with RAII mappings, interrupts, the worker and logging.
// Nothing here throws; callers get the core's 0 / -errno results.
#pragma once

#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "xvgpu/vendor.h"

namespace xvgpu::simgpu {

// A pinned view of one guest-physical range; released when destroyed.
class GuestWindow {
 public:
  GuestWindow() = default;
  GuestWindow(const xvgpu_host_api* api, xvgpu_instance* inst, xvgpu_sg_mapping* mapping,
              std::span<std::byte> bytes)
      : api_(api), inst_(inst), mapping_(mapping), bytes_(bytes) {}
  GuestWindow(const GuestWindow&) = delete;
  GuestWindow& operator=(const GuestWindow&) = delete;
  GuestWindow(GuestWindow&& o) noexcept { *this = std::move(o); }
  GuestWindow& operator=(GuestWindow&& o) noexcept {
    if (this != &o) {
      reset();
      api_ = o.api_;
      inst_ = o.inst_;
      mapping_ = o.mapping_;
      bytes_ = o.bytes_;
      o.mapping_ = nullptr;
      o.bytes_ = {};
    }
    return *this;
  }
  ~GuestWindow() { reset(); }

  [[nodiscard]] std::span<std::byte> bytes() const { return bytes_; }

 private:
  void reset() {
    if (mapping_ != nullptr) api_->sg_release(inst_, mapping_);
    mapping_ = nullptr;
  }
  const xvgpu_host_api* api_ = nullptr;
  xvgpu_instance* inst_ = nullptr;
  xvgpu_sg_mapping* mapping_ = nullptr;
  std::span<std::byte> bytes_;
};

class HostServices {
 public:
  HostServices(const xvgpu_host_api* api, xvgpu_instance* inst) : api_(api), inst_(inst) {}

  int guest_read(uint64_t gpa, std::span<std::byte> out) const {
    return api_->guest_read(inst_, gpa, out.data(), out.size());
  }
  int guest_write(uint64_t gpa, std::span<const std::byte> in) const {
    return api_->guest_write(inst_, gpa, in.data(), in.size());
  }
  // Maps [gpa, gpa + len) as one contiguous host view; 0 or -errno.
  int map(uint64_t gpa, uint64_t len, bool writable, GuestWindow& out) const {
    const xvgpu_sg_entry entry{gpa, len};
    xvgpu_host_segment seg{};
    xvgpu_sg_mapping* mapping = nullptr;
    const int rc = api_->sg_map(inst_, &entry, 1, writable ? 1 : 0, &seg, &mapping);
    if (rc < 0) return rc;
    if (seg.host == nullptr || seg.len != len) {
      if (mapping != nullptr) api_->sg_release(inst_, mapping);
      return -EFAULT;
    }
    out = GuestWindow(api_, inst_, mapping, std::span<std::byte>(static_cast<std::byte*>(seg.host), len));
    return 0;
  }
  int raise_msi(uint32_t vector) const { return api_->raise_msi(inst_, vector); }
  int set_intx(bool asserted) const { return api_->set_intx(inst_, asserted ? 1 : 0); }
  int queue_work(void (*fn)(void*), void* arg) const { return api_->queue_work(inst_, fn, arg); }
  int direct_bar(uint32_t bar, std::span<std::byte>& out) const {
    void* host = nullptr;
    uint64_t size = 0;
    const int rc = api_->direct_bar(inst_, bar, &host, &size);
    if (rc == 0) out = std::span<std::byte>(static_cast<std::byte*>(host), size);
    return rc;
  }
  int direct_bar_dirty(uint32_t bar, std::span<uint64_t> bitmap) const {
    return api_->direct_bar_dirty(inst_, bar, bitmap.data(), bitmap.size());
  }
  // ABI 1.2; -ENOSYS when the core is older.
  int display_damage(const xvgpu_display_damage& damage) const {
    if (!XVGPU_HAS_FIELD(api_, xvgpu_host_api, display_damage) || api_->display_damage == nullptr)
      return -ENOSYS;
    return api_->display_damage(inst_, &damage);
  }
  // ABI 1.3; -ENOSYS when the core is older.
  int direct_bar_written(uint32_t bar, uint64_t offset, uint64_t len) const {
    if (!XVGPU_HAS_FIELD(api_, xvgpu_host_api, direct_bar_written) || api_->direct_bar_written == nullptr)
      return -ENOSYS;
    return api_->direct_bar_written(inst_, bar, offset, len);
  }
  void log(int level, const std::string& message) const {
    if (api_->log != nullptr) api_->log(inst_, level, message.c_str());
  }

 private:
  const xvgpu_host_api* api_;
  xvgpu_instance* inst_;
};

}  // namespace xvgpu::simgpu
