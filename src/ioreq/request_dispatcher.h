// Serves one ioreq that the loop copied out of the shared page: validates it, turns it into
// single gpu::IoAccess items (rep stos repeating one value; rep ins/outs/movs through guest
// memory; walking down when df), calls the IoHandler, and computes the value Xen reads back. Never throws: a
// refused request gets Xen's default answer (reads all ones, writes dropped), is counted in IoreqStats and
// logged rate-limited.
#pragma once

#include <functional>
#include <memory>

// clang-format off
extern "C" {
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>
}
// clang-format on

#include "common/rate_limited_log.h"
#include "common/types.h"
#include "gpu/io_handler.h"
#include "gpu/platform.h"
#include "ioreq/claim_table.h"
#include "ioreq/ioreq_stats.h"
#include "ioreq/ioreq_trace.h"
#include "ioreq/pci_cf8_latch.h"
#include "ioreq/request_validator.h"

namespace xvgpu::ioreq {

class RequestDispatcher {
 public:
  RequestDispatcher(Domid domid, const ClaimTable& claims, gpu::GuestMemory& memory, IoreqStats& stats)
      : domid_(domid), claims_(claims), memory_(memory), stats_(stats) {}

  // Called on INVALIDATE before the IoHandler hears of it (the map cache flush).
  void set_invalidate_hook(std::function<void()> hook) { invalidate_hook_ = std::move(hook); }
  // Port accesses inside 0xcf8-0xcfb are answered by `latch` instead of the IoHandler
  // (null = off). The latch must outlive the dispatcher.
  void set_pci_cf8_latch(PciCf8Latch* latch) { cf8_latch_ = latch; }
  // Records every request's shape and verdict in `trace` (null = off); it must outlive the
  // dispatcher.
  void set_trace(IoreqTrace* trace) { trace_ = trace; }

  // A synchronous request; returns the value for the response's `data` field.
  uint64_t serve(const ioreq_t& req, VcpuId vcpu, gpu::IoHandler& handler) noexcept;
  // An entry of the buffered ring: a write (or TIMEOFFSET) that nobody waits for.
  void serve_buffered(const ioreq_t& req, gpu::IoHandler& handler) noexcept;

 private:
  uint64_t serve_valid(const DecodedRequest& d, VcpuId vcpu, gpu::IoHandler& handler);
  uint64_t serve_rep(const DecodedRequest& d, gpu::IoAccess access, gpu::IoHandler& handler);
  void serve_fill(const DecodedRequest& d, gpu::IoAccess access, uint64_t value, gpu::IoHandler& handler);
  uint64_t read_item(const gpu::IoAccess& access, gpu::IoHandler& handler);
  void write_item(const gpu::IoAccess& access, uint64_t value, gpu::IoHandler& handler);
  uint64_t refuse(Refusal why, const ioreq_t& req, VcpuId vcpu) noexcept;

  Domid domid_;
  const ClaimTable& claims_;
  gpu::GuestMemory& memory_;
  IoreqStats& stats_;
  std::function<void()> invalidate_hook_;
  PciCf8Latch* cf8_latch_ = nullptr;
  IoreqTrace* trace_ = nullptr;
  RateLimiter limiter_;
};

}  // namespace xvgpu::ioreq
