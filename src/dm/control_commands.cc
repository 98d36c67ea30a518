#include "dm/control_commands.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "control/control_protocol.h"
#include "control/vgpu_plan.h"
#include "control/vgpu_spec.h"
#include "dm/device_state.h"
#include "dm/png_writer.h"
#include "gpu/knob_value.h"

namespace xvgpu::dm {

using control::RequestError;
using nlohmann::json;

namespace {

constexpr auto kLoopTimeout = std::chrono::seconds(10);

std::string bdf_text(Sbdf s) {
  return s.seg == 0 ? s.to_string().substr(5) : s.to_string();
}

std::string required_string(const json& req, const char* key) {
  if (!req.contains(key) || !req[key].is_string()) {
    throw RequestError(control::kErrBadRequest, std::string("missing string argument \"") + key + "\"");
  }
  return req[key].get<std::string>();
}

const char* knob_type_name(gpu::KnobType t) {
  switch (t) {
    case gpu::KnobType::Bool:
      return "bool";
    case gpu::KnobType::Int:
      return "int";
    case gpu::KnobType::Enum:
      return "enum";
    case gpu::KnobType::String:
      return "string";
  }
  return "?";
}

}  // namespace

json vgpu_summary(gpu::Vgpu& v) {
  return {{"uuid", v.uuid()},
          {"type", v.type().name},
          {"pgpu", v.pgpu().info().vendor + "/" + v.pgpu().info().name},
          {"bdf", bdf_text(v.sbdf())},
          {"state", std::string(gpu::to_string(v.state()))},
          {"vm", {{"uuid", v.vm_uuid()}, {"name", v.vm_name()}}}};
}

ControlCommands::ControlCommands(gpu::VgpuManager& manager, ioreq::Frontend& frontend,
                                 std::set<Sbdf> used_slots, ConsoleSet& consoles, bool can_open_consoles,
                                 VmInfo vm, DirectMemoryCost cost)
    : manager_(manager),
      frontend_(frontend),
      used_slots_(std::move(used_slots)),
      consoles_(consoles),
      can_open_consoles_(can_open_consoles),
      vm_(std::move(vm)),
      cost_(cost) {}

json ControlCommands::on_loop(const std::function<json()>& fn) {
  auto done = std::make_shared<std::promise<json>>();
  auto result = done->get_future();
  frontend_.post([fn, done] {
    try {
      done->set_value(fn());
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  if (result.wait_for(kLoopTimeout) != std::future_status::ready) {
    throw RequestError(control::kErrInternal, "the device model's loop did not run the command in time");
  }
  return result.get();
}

std::shared_ptr<gpu::Vgpu> ControlCommands::vgpu_of(const json& req) {
  const std::string text = required_string(req, "uuid");
  const auto uuid = canonical_uuid(text);
  if (!uuid) throw RequestError(control::kErrBadRequest, "'" + text + "' is not a UUID");
  auto v = manager_.find(*uuid);
  if (!v) throw RequestError(control::kErrNotFound, "no vGPU " + *uuid + " in this device model");
  return v;
}

json ControlCommands::handle(const json& req) {
  const std::string cmd = req.at("cmd").get<std::string>();
  if (cmd == control::kStatus) return status();
  if (cmd == control::kStats) return stats(req);
  if (cmd == control::kKnobGet) return knob_get(req);
  if (cmd == control::kKnobSet) return knob_set(req);
  if (cmd == control::kScreenshot) return screenshot(req);
  if (cmd == control::kHotAdd) return hot_add(req);
  if (cmd == control::kHotRemove) return hot_remove(req);
  if (cmd == control::kSaveState) return save_state(req);
  if (cmd == control::kShutdown) {
    spdlog::info("shutdown requested on the control socket");
    frontend_.request_stop();
    return json::object();
  }
  throw RequestError(control::kErrUnknownCmd, "unknown command '" + cmd + "'");
}

json ControlCommands::status() {
  json vgpus = on_loop([this] {
    json out = json::array();
    for (const auto& v : manager_.vgpus()) out.push_back(vgpu_summary(*v));
    return out;
  });
  for (auto& v : vgpus) v["console"] = consoles_.describe(v["uuid"].get<std::string>());
  const double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return {{"protocol", control::kProtocolVersion},
          {"domid", frontend_.domid().value},
          {"pid", ::getpid()},
          {"state", "running"},
          {"uptime_s", up},
          {"vcpus", frontend_.vcpu_count()},
          {"vm", {{"uuid", vm_.uuid}, {"name", vm_.name}}},
          {"direct_memory",
           {{"vram_bytes", cost_.vram_bytes},
            {"hot_add_room_bytes", cost_.hot_add_room_bytes},
            {"total_bytes", cost_.vram_bytes + cost_.hot_add_room_bytes}}},
          {"vgpus", vgpus}};
}

json ControlCommands::stats(const json& req) {
  std::shared_ptr<gpu::Vgpu> only;
  if (req.contains("uuid")) only = vgpu_of(req);
  json vgpus = on_loop([this, only] {
    json out = json::array();
    for (const auto& v : manager_.vgpus()) {
      if (only && v != only) continue;
      json counters = json::object();
      for (const auto& c : v->stats()) counters[c.name] = c.value;
      out.push_back({{"uuid", v->uuid()}, {"type", v->type().name}, {"counters", counters}});
    }
    return out;
  });
  const auto& s = frontend_.stats();
  json dm{{"wakeups", s.wakeups.load()},
          {"requests", s.requests.load()},
          {"buffered", s.buffered.load()},
          {"items", s.items.load()},
          {"invalidates", s.invalidates.load()},
          {"time_offsets", s.time_offsets.load()},
          {"last_time_offset", s.last_time_offset.load()},
          {"refused", s.refused_total()},
          {"hypervisor_errors", s.hypervisor_errors.load()},
          {"unrouted", manager_.bus(frontend_.domid()).unrouted()}};
  for (int r = 0; r < static_cast<int>(ioreq::Refusal::kCount); ++r) {
    dm[std::string("refused.") + ioreq::to_string(static_cast<ioreq::Refusal>(r))] = s.refused[r].load();
  }
  return {{"domid", frontend_.domid().value}, {"dm", dm}, {"vgpus", vgpus}};
}

json ControlCommands::knob_get(const json& req) {
  auto v = vgpu_of(req);
  std::string only;
  if (req.contains("name")) only = required_string(req, "name");
  json r = on_loop([v, only] {
    json knobs = json::array();
    for (const auto& k : v->type().knobs) {
      if (!only.empty() && k.name != only) continue;
      knobs.push_back({{"name", k.name},
                       {"value", v->knob_get(k.name)},
                       {"type", knob_type_name(k.type)},
                       {"writable", k.runtime},
                       {"accepts", gpu::knob_accepts(k)},
                       {"description", k.description}});
    }
    if (!only.empty() && knobs.empty()) {
      throw RequestError(control::kErrNotFound, "vGPU " + v->uuid() + " has no knob '" + only + "'");
    }
    return json{
        {"uuid", v->uuid()}, {"vm", {{"uuid", v->vm_uuid()}, {"name", v->vm_name()}}}, {"knobs", knobs}};
  });
  r["console"] = consoles_.describe(v->uuid());
  return r;
}

json ControlCommands::knob_set(const json& req) {
  auto v = vgpu_of(req);
  const std::string name = required_string(req, "name");
  const std::string value = req.contains("value") && !req["value"].is_string()
                                ? req["value"].dump()
                                : required_string(req, "value");
  return on_loop([v, name, value] {
    const gpu::KnobInfo* k = v->type().knob(name);
    if (k == nullptr)
      throw RequestError(control::kErrNotFound, "vGPU " + v->uuid() + " has no knob '" + name + "'");
    if (!k->runtime)
      throw RequestError(control::kErrRefused, "knob '" + name + "' cannot be changed at run time");
    try {
      (void)gpu::parse_knob_value(*k, value);
    } catch (const Error& e) {
      throw RequestError(control::kErrBadRequest,
                         e.what());  // the operator's value, not the vendor's refusal
    }
    try {
      v->knob_set(name, value);
    } catch (const Error& e) {
      throw RequestError(control::kErrRefused, e.what());
    }
    spdlog::info("vGPU {}: knob {} set to {}", v->uuid(), name, value);
    return json{{"uuid", v->uuid()}, {"name", name}, {"value", v->knob_get(name)}};
  });
}

// On the loop thread, so no guest request is served meanwhile; Vgpu::save waits for the engine's
// queued jobs, whose completions (and MSIs) are then part of the state, not lost.
json ControlCommands::save_state(const json& req) {
  const std::string path = required_string(req, "path");
  if (path.empty() || path.front() != '/') {
    throw RequestError(control::kErrBadRequest, "save-state: path '" + path + "' is not absolute");
  }
  auto state = std::make_shared<DeviceState>();
  const auto t0 = std::chrono::steady_clock::now();
  on_loop([this, state] {
    for (const auto& v : manager_.vgpus()) {
      // The guest is paused while this runs: room for the VRAM up front spares a growing
      // buffer's copies.
      std::string room;
      room.reserve(v->snapshot_size_hint());
      std::ostringstream out(std::move(room));
      try {
        v->save(out);
      } catch (const Error& e) {
        throw RequestError(control::kErrRefused, "save-state: vGPU " + v->uuid() + ": " + e.what());
      }
      const std::string s = std::move(out).str();
      state->vgpus.push_back({v->uuid(), v->type().name, std::vector<uint8_t>(s.begin(), s.end())});
    }
    state->direct = frontend_.direct_layout();
    return json::object();
  });
  const auto bytes = encode_device_state(*state);
  try {
    write_device_state_file(path, bytes);
  } catch (const std::exception& e) {
    throw RequestError(control::kErrRefused, std::string("save-state: ") + e.what());
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("device state of {} vGPU(s) saved to {} ({} bytes, {} ms)", state->vgpus.size(), path,
               bytes.size(), ms);
  return {{"path", path}, {"bytes", bytes.size()}, {"vgpus", state->vgpus.size()}};
}

json ControlCommands::screenshot(const json& req) {
  auto v = vgpu_of(req);
  // Copy the scan-out on the loop thread (a consistent frame), encode it here.
  auto frame = std::make_shared<std::vector<std::byte>>();
  json info = on_loop([v, frame] {
    std::optional<gpu::DisplaySurface> s;
    try {
      s = v->display_surface(0);
    } catch (const Error& e) {
      throw RequestError(control::kErrRefused, e.what());
    }
    if (!s) throw RequestError(control::kErrRefused, "vGPU " + v->uuid() + " has no active display");
    frame->assign(s->pixels.begin(), s->pixels.end());
    return json{{"fourcc", s->fourcc}, {"width", s->width}, {"height", s->height}, {"stride", s->stride}};
  });
  SurfaceImage im{info["fourcc"].get<uint32_t>(), info["width"].get<uint32_t>(),
                  info["height"].get<uint32_t>(), info["stride"].get<uint32_t>(), *frame};
  std::string png;
  try {
    png = encode_png(im);
  } catch (const Error& e) {
    throw RequestError(control::kErrRefused, e.what());
  }
  return {{"uuid", v->uuid()},
          {"width", im.width},
          {"height", im.height},
          {"format", "png"},
          {"png_base64", control::base64_encode(png)}};
}

json ControlCommands::hot_add(const json& req) {
  VgpuSpec spec;
  try {
    spec = VgpuSpec::parse(required_string(req, "vgpu"));
  } catch (const RequestError&) {
    throw;
  } catch (const Error& e) {
    throw RequestError(control::kErrBadRequest, std::string("vgpu: ") + e.what());
  }
  ConsoleOptions console;
  try {
    console = console_options(spec);
  } catch (const Error& e) {
    throw RequestError(control::kErrBadRequest, std::string("vgpu: ") + e.what());
  }
  json summary = on_loop([this, spec] {
    if (manager_.find(spec.uuid)) {
      throw RequestError(control::kErrRefused, "vGPU " + spec.uuid + " already exists in this device model");
    }
    std::set<Sbdf> slots = used_slots_;
    PlannedVgpu p;
    try {
      p = plan_vgpu(manager_, spec, slots);
    } catch (const Error& e) {
      throw RequestError(control::kErrRefused, e.what());
    }
    p.config.vm_uuid = vm_.uuid;
    p.config.vm_name = vm_.name;
    std::shared_ptr<gpu::Vgpu> v;
    try {
      v = manager_.create_vgpu(p.config, frontend_.platform());
      v->start();
    } catch (const Error& e) {
      if (v) {
        try {
          manager_.destroy_vgpu(spec.uuid);
        } catch (const Error& e2) {
          spdlog::warn("hot-add of {}: cleaning up: {}", spec.uuid, e2.what());
        }
      }
      std::string why = e.what();
      if (p.direct_bytes > 0 && why.find("direct memory: no room") != std::string::npos) {
        why +=
            "; VRAM for hot-adds is held from the start only when asked: --hot-add-room (xvgpu-dm), "
            "-xvgpu-hot-add-room (xl wrapper), #xvgpu-hot-add-room: (PVH launcher)";
      }
      throw RequestError(control::kErrRefused, why);
    }
    used_slots_ = std::move(slots);
    spdlog::info("hot-added vGPU {} ({}) at {}", v->uuid(), v->type().name, v->sbdf().to_string());
    return vgpu_summary(*v);
  });
  if (console.address.kind != ConsoleAddress::Kind::Off) {
    if (!can_open_consoles_) {
      spdlog::warn("hot-added vGPU {}: no console: the seccomp policy allows no new listening socket",
                   spec.uuid);
      summary["console"] = {{"vnc", "off"}, {"why", "hot-added under seccomp: no new listening socket"}};
      return summary;
    }
    try {
      if (auto v = manager_.find(spec.uuid)) consoles_.open(v, console);
    } catch (const std::exception& e) {
      spdlog::warn("hot-added vGPU {}: no console: {}", spec.uuid, e.what());
    }
  }
  summary["console"] = consoles_.describe(spec.uuid);
  return summary;
}

json ControlCommands::hot_remove(const json& req) {
  auto v = vgpu_of(req);
  consoles_.close(v->uuid());  // here, not on the loop: it waits for the console's threads
  return on_loop([this, v] {
    const Sbdf slot = v->sbdf();
    try {
      manager_.destroy_vgpu(v->uuid());
    } catch (const Error& e) {
      throw RequestError(control::kErrRefused, e.what());
    }
    used_slots_.erase(slot);
    spdlog::info("hot-removed vGPU {} from {}", v->uuid(), slot.to_string());
    return json{{"uuid", v->uuid()}, {"removed", true}};
  });
}

}  // namespace xvgpu::dm
