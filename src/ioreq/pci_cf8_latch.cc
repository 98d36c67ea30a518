#include "ioreq/pci_cf8_latch.h"

namespace xvgpu::ioreq {

namespace {
bool is_address_register(const gpu::IoAccess& a) {
  return a.addr == PciCf8Latch::kFirstPort && a.size == 4;
}
}  // namespace

bool PciCf8Latch::covers(const gpu::IoAccess& a) noexcept {
  return a.space == gpu::AddressSpace::Port && a.size != 0 && a.addr >= kFirstPort &&
         a.addr + a.size - 1 <= kLastPort;
}

uint64_t PciCf8Latch::read(const gpu::IoAccess& a) const noexcept {
  return is_address_register(a) ? uint64_t{latch_} : ~uint64_t{0};
}

void PciCf8Latch::write(const gpu::IoAccess& a, uint64_t value) noexcept {
  // Xen only latches 4-byte writes (hvm_access_cf8); narrower ones (Linux's outb(1, 0xcfb)
  // in its type-1 probe) leave the latch alone there, so they do here.
  if (is_address_register(a)) {
    latch_ = static_cast<uint32_t>(value);
  }
}

}  // namespace xvgpu::ioreq
