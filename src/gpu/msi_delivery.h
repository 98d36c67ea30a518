// MSI delivery from the state the guest programmed into the MSI capability.
//
// The guest's address/data pair goes to the InterruptSink unchanged (only the low data bits
// select the vector when the guest enabled several, as PCI specifies): Xen decodes it, and a
// PIRQ-encoded pair must not be "fixed". A masked vector sets its pending bit instead and is
// sent when the guest unmasks it. MSI is a memory write by the device, so nothing is sent while
// MSI is disabled or bus mastering is off.
#pragma once

#include <cstdint>
#include <optional>

#include "gpu/pci_config_space.h"
#include "gpu/platform.h"

namespace xvgpu::gpu {

enum class MsiResult : uint8_t { Delivered, Pending, Disabled };

struct MsiState {
  bool enabled = false;
  uint64_t address = 0;
  uint16_t data = 0;
  uint32_t vectors_enabled = 0;  // 1 << min(MME, MMC)
  uint32_t mask = 0;
  uint32_t pending = 0;
};

// nullopt when the device has no MSI capability.
std::optional<MsiState> read_msi_state(const PciConfigSpace& cfg);

// Raises `vector`; vector beyond the enabled count is Disabled.
MsiResult raise_msi(PciConfigSpace& cfg, uint32_t vector, InterruptSink& sink);

// Sends every pending vector that is now deliverable (after a guest write to the mask bits, the
// enable bit or bus mastering). Returns how many were sent.
unsigned deliver_unmasked_pending(PciConfigSpace& cfg, InterruptSink& sink);

}  // namespace xvgpu::gpu
