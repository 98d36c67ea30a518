// The control protocol's commands (control_protocol.h) carried out on a running device model:
// status, stats, knob get/set, screenshot, hot-add, hot-remove, shutdown. Requests arrive on the
// control server's thread; everything that touches a vGPU runs on the ioreq loop thread (posted
// through the frontend), so guest accesses and operator commands never race.
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "dm/console/console_set.h"
#include "gpu/vgpu_manager.h"
#include "ioreq/frontend.h"

namespace xvgpu::dm {

// The VM the device model's domain is (empty strings when unknown); hot-added vGPUs get it too.
struct VmInfo {
  std::string uuid;
  std::string name;
};

// Guest memory the device model populated for VRAM at start (host memory the VM costs).
struct DirectMemoryCost {
  uint64_t vram_bytes = 0;          // of the vGPUs it started with
  uint64_t hot_add_room_bytes = 0;  // held for hot-adds (--hot-add-room)
};

class ControlCommands {
 public:
  // can_open_consoles: whether a hot-added vGPU may open a listening socket (not under the serving
  // phase's seccomp policy, which allows no new listening socket).
  ControlCommands(gpu::VgpuManager& manager, ioreq::Frontend& frontend, std::set<Sbdf> used_slots,
                  ConsoleSet& consoles, bool can_open_consoles, VmInfo vm = {}, DirectMemoryCost cost = {});

  // The ControlServer handler. Throws control::RequestError.
  nlohmann::json handle(const nlohmann::json& request);

 private:
  // Runs fn on the loop thread and returns its result (or rethrows its exception).
  nlohmann::json on_loop(const std::function<nlohmann::json()>& fn);
  nlohmann::json status();
  nlohmann::json stats(const nlohmann::json& req);
  nlohmann::json knob_get(const nlohmann::json& req);
  nlohmann::json knob_set(const nlohmann::json& req);
  nlohmann::json screenshot(const nlohmann::json& req);
  nlohmann::json hot_add(const nlohmann::json& req);
  nlohmann::json hot_remove(const nlohmann::json& req);
  nlohmann::json save_state(const nlohmann::json& req);
  std::shared_ptr<gpu::Vgpu> vgpu_of(const nlohmann::json& req);

  gpu::VgpuManager& manager_;
  ioreq::Frontend& frontend_;
  std::set<Sbdf> used_slots_;  // loop thread only
  ConsoleSet& consoles_;
  bool can_open_consoles_;
  VmInfo vm_;
  DirectMemoryCost cost_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

nlohmann::json vgpu_summary(gpu::Vgpu& v);

}  // namespace xvgpu::dm
