// gpu::InterruptSink on Xen: MSIs through xendevicemodel_inject_msi with the guest's own
// address/data (Xen decodes PIRQ-encoded MSIs into event channels), INTx through
// xendevicemodel_set_pci_intx_level. A failure (typically: the domain is dying) is counted
// and logged rate-limited, never thrown into the device that raised the interrupt.
#pragma once

#include <memory>

#include "common/rate_limited_log.h"
#include "common/types.h"
#include "gpu/platform.h"
#include "ioreq/ioreq_stats.h"
#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

class XenInterrupts final : public gpu::InterruptSink {
 public:
  XenInterrupts(DevicemodelHandle dm, Domid domid, std::shared_ptr<IoreqStats> stats)
      : dm_(std::move(dm)), domid_(domid), stats_(std::move(stats)) {}
  void inject_msi(uint64_t addr, uint32_t data) override;
  void set_intx_level(Sbdf sbdf, unsigned pin, bool asserted) override;

 private:
  void failed(const char* what) noexcept;

  DevicemodelHandle dm_;
  Domid domid_;
  std::shared_ptr<IoreqStats> stats_;
  RateLimiter limiter_;
};

}  // namespace xvgpu::ioreq
