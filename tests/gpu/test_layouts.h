// Device layouts shared by the core's unit tests.
#pragma once

#include "gpu/vendor_model.h"

namespace xvgpu::test {

// BAR0: 16 MiB prefetchable 64-bit direct (VRAM); BAR2: 4 KiB 32-bit MMIO; BAR3: 32-byte I/O;
// BAR4: 64 KiB 64-bit MMIO. 4 MSI vectors, INTA, one vendor-specific capability.
inline gpu::DeviceLayout full_layout() {
  gpu::DeviceLayout l;
  l.vendor_id = 0x1234;
  l.device_id = 0x1111;
  l.subsystem_vendor_id = 0x1af4;
  l.subsystem_id = 0x1100;
  l.revision = 2;
  l.class_code = 0x03;
  l.subclass = 0x00;
  l.msi_vectors = 4;
  l.intx_pin = 1;
  l.bars = {gpu::BarLayout{0, 16u << 20, false, true, true, true, 1, 8},
            gpu::BarLayout{2, 4096, false, false, false, false, 1, 4},
            gpu::BarLayout{3, 32, true, false, false, false, 1, 4},
            gpu::BarLayout{4, 64 * 1024, false, true, false, false, 1, 8}};
  gpu::CapabilityLayout cap;
  cap.id = 0x09;
  cap.length = 8;
  cap.initial = {0, 0, 8, 0x11, 0x22, 0x33, 0x44, 0x55};
  cap.writable = {0, 0, 0, 0xff, 0, 0, 0, 0};
  l.capabilities.push_back(cap);
  return l;
}

}  // namespace xvgpu::test
