// From operator vGPU specs to the core's VgpuConfig: the type must be offered by a loaded
// vendor, every knob must be a creation-time knob of that type with a valid value, and each vGPU
// gets a distinct guest PCI slot (the one given, else 00:05.0 and up) and its expansion ROM
// (rom_file.h). Checked before xvgpu-dm touches Xen, and again for each hot-add.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "control/vgpu_spec.h"
#include "gpu/vgpu.h"
#include "gpu/vgpu_manager.h"

namespace xvgpu::dm {

// No loaded vendor offers the type.
class UnknownTypeError : public Error {
 public:
  using Error::Error;
};

struct PlannedVgpu {
  gpu::VgpuConfig config;
  uint64_t direct_bytes = 0;  // memory the guest reaches directly (VRAM BARs)
};

// The type is offered by a loaded vendor, every knob is a valid creation-time knob of it (a
// preferred_mode a WIDTHxHEIGHT within the type's maximum), and a given guest slot is on bus 0.
// Returns the type; throws Error naming the problem.
const gpu::TypeInfo& check_spec(gpu::VgpuManager& manager, const VgpuSpec& spec);

// check_spec, plus a guest PCI slot and room on the host. Throws Error naming the problem (the
// caller prefixes the argument).
PlannedVgpu plan_vgpu(gpu::VgpuManager& manager, const VgpuSpec& spec, std::set<Sbdf>& used_slots);

// A guest PCI slot a vGPU may take: segment 0, bus 0. Throws Error naming the slot.
void check_guest_slot(const Sbdf& bdf);

// "simgpu-16, simgpu-64, ..." for error messages.
std::string offered_types(gpu::VgpuManager& manager);

}  // namespace xvgpu::dm
