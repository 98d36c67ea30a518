// Counters of what the ioreq frontend saw; read from any thread (relaxed atomics).
#pragma once

#include <atomic>
#include <cstdint>

namespace xvgpu::ioreq {

// Why a guest request was refused (answered with Xen's default instead of reaching a device).
enum class Refusal : uint8_t {
  BadType,      // not PIO / COPY / PCI_CONFIG / INVALIDATE in a vCPU slot
  BadSize,      // not 1/2/4/8, or more than 4 for PIO / PCI_CONFIG
  BadCount,     // count 0, count x size beyond one page, or a repeated value other than rep stos
  BadAddress,   // range wraps around, or port / config register out of bounds
  Unclaimed,    // not entirely inside a range / SBDF this server claimed
  BadBuffer,    // data_is_ptr buffer not in guest RAM (or wraps)
  BadBuffered,  // a buffered-ring entry Xen never posts (read, PIO, INVALIDATE, ...)
  CrossesPage,  // a rep whose MMIO range or guest buffer leaves its page (Xen clips reps there)
  kCount,
};
[[nodiscard]] const char* to_string(Refusal r);

struct IoreqStats {
  std::atomic<uint64_t> wakeups{0};          // event-channel wake-ups of the loop
  std::atomic<uint64_t> empty_wakeups{0};    // ... of which found no port queued (spurious)
  std::atomic<uint64_t> requests{0};         // synchronous ioreqs answered
  std::atomic<uint64_t> buffered{0};         // buffered-ring entries consumed
  std::atomic<uint64_t> items{0};            // single accesses delivered to the IoHandler
  std::atomic<uint64_t> invalidates{0};      // INVALIDATE requests
  std::atomic<uint64_t> time_offsets{0};     // TIMEOFFSET requests
  std::atomic<int64_t> last_time_offset{0};  // the guest's RTC offset, as Xen last sent it
  std::atomic<uint64_t> refused[static_cast<int>(Refusal::kCount)]{};
  std::atomic<uint64_t> hypervisor_errors{0};  // failed Xen calls on the serving path

  [[nodiscard]] uint64_t refused_total() const {
    uint64_t n = 0;
    for (const auto& r : refused) {
      n += r.load(std::memory_order_relaxed);
    }
    return n;
  }
  [[nodiscard]] uint64_t refused_for(Refusal r) const {
    return refused[static_cast<int>(r)].load(std::memory_order_relaxed);
  }
  void count(Refusal r) { refused[static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed); }
};

}  // namespace xvgpu::ioreq
