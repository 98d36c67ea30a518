// PCI configuration address register (port 0xcf8) for guests without an emulated PCI host
// bridge (PVH). Xen 4.17 latches the guest's 4-byte writes to 0xcf8 and routes 0xcfc-0xcff
// as IOREQ_TYPE_PCI_CONFIG to whoever claimed the function, but nobody answers reads of
// 0xcf8, so the guest's type-1 probe fails. A server that claims 0xcf8-0xcfb answers them
// here, before the core: a 4-byte read of 0xcf8 returns what the guest last wrote there
// with 4 bytes (the value Xen latched). Never use this where another device model (QEMU,
// HVM guests) owns the PCI host bridge.
#pragma once

#include <cstdint>

#include "gpu/io_handler.h"

namespace xvgpu::ioreq {

class PciCf8Latch {
 public:
  static constexpr uint64_t kFirstPort = 0xcf8;
  static constexpr uint64_t kLastPort = 0xcfb;

  // True when the access is a port access entirely inside 0xcf8-0xcfb.
  [[nodiscard]] static bool covers(const gpu::IoAccess& a) noexcept;
  // A 4-byte read of 0xcf8 returns the latch; any other read in range sees all ones.
  [[nodiscard]] uint64_t read(const gpu::IoAccess& a) const noexcept;
  // A 4-byte write to 0xcf8 stores the latch (as Xen does); other writes are dropped.
  void write(const gpu::IoAccess& a, uint64_t value) noexcept;

  [[nodiscard]] uint32_t value() const noexcept { return latch_; }

 private:
  // Loop thread only. Xen's latch starts at 0 too.
  uint32_t latch_ = 0;
};

}  // namespace xvgpu::ioreq
