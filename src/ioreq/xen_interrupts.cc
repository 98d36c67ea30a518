#include "ioreq/xen_interrupts.h"

#include <cstring>

namespace xvgpu::ioreq {

void XenInterrupts::failed(const char* what) noexcept {
  const int e = errno;
  stats_->hypervisor_errors.fetch_add(1, std::memory_order_relaxed);
  XVGPU_LOG_LIMITED(limiter_, spdlog::level::warn, "dom{}: {}: {}", domid_.value, what, std::strerror(e));
}

void XenInterrupts::inject_msi(uint64_t addr, uint32_t data) {
  if (xendevicemodel_inject_msi(dm_.get(), domid_.value, addr, data) != 0) {
    failed("xendevicemodel_inject_msi");
  }
}

void XenInterrupts::set_intx_level(Sbdf sbdf, unsigned pin, bool asserted) {
  if (pin > 3 || !sbdf.valid()) {
    errno = EINVAL;
    failed("set_intx_level: invalid pin or function");
    return;
  }
  if (xendevicemodel_set_pci_intx_level(dm_.get(), domid_.value, sbdf.seg, sbdf.bus, sbdf.dev,
                                        static_cast<uint8_t>(pin), asserted ? 1 : 0) != 0) {
    failed("xendevicemodel_set_pci_intx_level");
  }
}

}  // namespace xvgpu::ioreq
