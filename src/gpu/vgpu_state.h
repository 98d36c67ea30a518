// The life cycle of a vGPU instance, as an explicit state machine.
//
//   Defined --create--> Created --start--> Running --stop--> Stopped --start--> Running
//   Running --reset--> Running
//   Defined | Created | Stopped --destroy--> Destroyed
//
// Defined: known (uuid, type, parameters, slot) but holds nothing. Created: host-wide
// reservation taken, vendor instance allocated, not attached to the guest. Running: config space
// and BARs claimed, guest accesses served. Stopped: detached, vendor state kept. Destroyed: all
// released; the object only answers "destroyed". Anything else is a VgpuStateError naming the
// vGPU, its state and the operation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace xvgpu::gpu {

enum class VgpuState : uint8_t { Defined, Created, Running, Stopped, Destroyed };
enum class VgpuOp : uint8_t { Create, Start, Stop, Reset, Destroy, Save, Restore };

std::string_view to_string(VgpuState s);
std::string_view to_string(VgpuOp op);

// The state after `op`, or nullopt-like: throws VgpuStateError when not allowed. Save and
// Restore do not change the state.
VgpuState next_state(VgpuState from, VgpuOp op, std::string_view uuid);
[[nodiscard]] bool allowed(VgpuState from, VgpuOp op);
// Whether the vendor holds an instance in this state (Created, Running or Stopped).
[[nodiscard]] constexpr bool has_instance(VgpuState s) {
  return s == VgpuState::Created || s == VgpuState::Running || s == VgpuState::Stopped;
}

class VgpuStateError : public Error {
 public:
  VgpuStateError(std::string_view uuid, VgpuState state, VgpuOp op);
  [[nodiscard]] VgpuState state() const { return state_; }

 private:
  VgpuState state_;
};

}  // namespace xvgpu::gpu
