#include "ioreq/dirty_log.h"

#include <algorithm>
#include <cstring>

namespace xvgpu::ioreq {

void DirtyLog::report(uint64_t gpa, uint64_t len) noexcept {
  if (len == 0) {
    return;
  }
  uint64_t first = gpa >> kPageShift;
  const uint64_t last = (gpa + len - 1) >> kPageShift;
  while (first <= last) {
    const uint64_t n = std::min<uint64_t>(last - first + 1, UINT32_MAX);
    if (xendevicemodel_modified_memory(dm_.get(), domid_.value, first, static_cast<uint32_t>(n)) != 0) {
      const int e = errno;
      stats_->hypervisor_errors.fetch_add(1, std::memory_order_relaxed);
      XVGPU_LOG_LIMITED(limiter_, spdlog::level::warn, "dom{}: xendevicemodel_modified_memory({:#x}, {}): {}",
                        domid_.value, first, n, std::strerror(e));
      return;
    }
    first += n;
  }
}

}  // namespace xvgpu::ioreq
