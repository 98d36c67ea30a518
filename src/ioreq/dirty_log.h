// Reports pages the device model wrote into guest memory to Xen's dirty log
// (xendevicemodel_modified_memory), so live migration re-sends them.
//
// Choice: we always report. Whether the toolstack has log-dirty on cannot be asked with a
// handle restricted to the domain (it is a domctl), and Xen treats the call as a cheap no-op
// when log-dirty is off. Failures (e.g. the domain is dying) are counted and logged
// rate-limited; they never fail the DMA itself.
#pragma once

#include <cstdint>
#include <memory>

#include "common/rate_limited_log.h"
#include "common/types.h"
#include "ioreq/ioreq_stats.h"
#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

class DirtyLog {
 public:
  DirtyLog(DevicemodelHandle dm, Domid domid, std::shared_ptr<IoreqStats> stats)
      : dm_(std::move(dm)), domid_(domid), stats_(std::move(stats)) {}
  // Marks every page touched by [gpa, gpa+len) dirty.
  void report(uint64_t gpa, uint64_t len) noexcept;

 private:
  DevicemodelHandle dm_;
  Domid domid_;
  std::shared_ptr<IoreqStats> stats_;
  RateLimiter limiter_;
};

}  // namespace xvgpu::ioreq
