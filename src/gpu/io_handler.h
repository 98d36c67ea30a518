// What the Xen frontend hands to the vGPU core: one decoded, validated guest access.
//
// The frontend (src/ioreq) turns each ioreq into IoAccess values: it has already checked
// the size, split rep/data_is_ptr requests into single items, and made sure the access lies
// inside a range the core claimed. The core routes it to the device that owns it.
#pragma once

#include <cstdint>

#include "common/types.h"

namespace xvgpu::gpu {

enum class AddressSpace : uint8_t { Port, Mmio, PciConfig };

struct IoAccess {
  AddressSpace space = AddressSpace::Mmio;
  uint64_t addr = 0;  // port number, guest-physical address, or config-space register offset
  Sbdf sbdf{};        // PciConfig only: the function addressed
  uint8_t size = 0;   // 1, 2, 4 or 8 (at most 4 for Port and PciConfig)
  VcpuId vcpu{};      // the vCPU that performed the access
};

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  // Never throw: a failing device answers reads with all ones and drops writes, as real
  // hardware without a claimant would, and counts the event.
  virtual uint64_t read(const IoAccess& access) noexcept = 0;
  virtual void write(const IoAccess& access, uint64_t value) noexcept = 0;
};

}  // namespace xvgpu::gpu
