#include "gpu/vgpu_state.h"

#include <fmt/format.h>

namespace xvgpu::gpu {

std::string_view to_string(VgpuState s) {
  switch (s) {
    case VgpuState::Defined:
      return "defined";
    case VgpuState::Created:
      return "created";
    case VgpuState::Running:
      return "running";
    case VgpuState::Stopped:
      return "stopped";
    case VgpuState::Destroyed:
      return "destroyed";
  }
  return "?";
}

std::string_view to_string(VgpuOp op) {
  switch (op) {
    case VgpuOp::Create:
      return "create";
    case VgpuOp::Start:
      return "start";
    case VgpuOp::Stop:
      return "stop";
    case VgpuOp::Reset:
      return "reset";
    case VgpuOp::Destroy:
      return "destroy";
    case VgpuOp::Save:
      return "save";
    case VgpuOp::Restore:
      return "restore";
  }
  return "?";
}

bool allowed(VgpuState from, VgpuOp op) {
  using S = VgpuState;
  switch (op) {
    case VgpuOp::Create:
      return from == S::Defined;
    case VgpuOp::Start:
      return from == S::Created || from == S::Stopped;
    case VgpuOp::Stop:
    case VgpuOp::Reset:
      return from == S::Running;
    case VgpuOp::Destroy:
      return from == S::Defined || from == S::Created || from == S::Stopped;
    case VgpuOp::Save:
      return from == S::Created || from == S::Running || from == S::Stopped;
    case VgpuOp::Restore:
      return from == S::Created || from == S::Stopped;
  }
  return false;
}

VgpuState next_state(VgpuState from, VgpuOp op, std::string_view uuid) {
  if (!allowed(from, op)) {
    throw VgpuStateError(uuid, from, op);
  }
  switch (op) {
    case VgpuOp::Create:
      return VgpuState::Created;
    case VgpuOp::Start:
      return VgpuState::Running;
    case VgpuOp::Stop:
      return VgpuState::Stopped;
    case VgpuOp::Destroy:
      return VgpuState::Destroyed;
    case VgpuOp::Reset:
    case VgpuOp::Save:
    case VgpuOp::Restore:
      return from;
  }
  return from;
}

namespace {
std::string hint(VgpuState s, VgpuOp op) {
  if (op == VgpuOp::Destroy && s == VgpuState::Running) {
    return " (stop it first)";
  }
  if (s == VgpuState::Destroyed) {
    return " (it no longer exists)";
  }
  if ((op == VgpuOp::Stop || op == VgpuOp::Reset) && s != VgpuState::Running) {
    return " (it is not running)";
  }
  if (op == VgpuOp::Start && s == VgpuState::Running) {
    return " (it is already running)";
  }
  if (op == VgpuOp::Start && s == VgpuState::Defined) {
    return " (create it first)";
  }
  return "";
}
}  // namespace

VgpuStateError::VgpuStateError(std::string_view uuid, VgpuState state, VgpuOp op)
    : Error(fmt::format("cannot {} vGPU {}: it is {}{}", to_string(op), uuid, to_string(state),
                        hint(state, op))),
      state_(state) {}

}  // namespace xvgpu::gpu
