#include "ctl/verb_support.h"

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "control/control_protocol.h"
#include "control/pidfile.h"
#include "ctl/dm_launcher.h"
#include "ctl/exit_codes.h"

namespace xvgpu::ctl {

using nlohmann::json;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string uuid_arg(const std::string& text) {
  auto u = canonical_uuid(text);
  if (!u) throw CtlError(kExitUsage, "'" + text + "' is not a UUID");
  return *u;
}

std::optional<Domid> domid_arg(long d) {
  if (d < 0) return std::nullopt;
  if (d == 0 || d >= 0x7ff0)
    throw CtlError(kExitUsage, "--domain " + std::to_string(d) + ": not a guest domain ID");
  return Domid{static_cast<uint16_t>(d)};
}

void warn(const std::string& msg) {
  std::cerr << "xvgpuctl: warning: " << msg << '\n';
}

VmRef vm_arg(const std::string& text) {
  try {
    return VmRef::parse(text);
  } catch (const Error& e) {
    throw CtlError(kExitUsage, "--vm " + text + ": " + e.what());
  }
}

// The VM of a running domain as xvgpu-dm reports it, or a VmRef's own part when not running.
json vm_json(const std::string& uuid, const std::string& name) {
  return {{"uuid", uuid.empty() ? json(nullptr) : json(uuid)},
          {"name", name.empty() ? json(nullptr) : json(name)}};
}

// The live (not dying) domain of a VM. Throws CtlError: not running (exit 4), or ambiguous.
ioreq::DomainIdentity running_domain_of(const VmRef& vm) {
  std::vector<ioreq::DomainIdentity> found;
  try {
    for (auto& d : ioreq::list_domain_identities()) {
      if (!d.dying && vm.matches(ioreq::handle_text(d.handle), d.name)) found.push_back(std::move(d));
    }
  } catch (const std::exception& e) {
    throw CtlError(kExitFailure, "looking for VM " + vm.to_string() + ": " + e.what());
  }
  if (found.empty())
    throw CtlError(kExitNotRunning, "VM " + vm.to_string() + " is not running (no domain has this " +
                                        (vm.uuid.empty() ? "name" : "UUID") + ")");
  if (found.size() > 1) {
    std::string ids;
    for (const auto& d : found) ids += (ids.empty() ? "" : ", ") + std::to_string(d.domid.value);
    throw CtlError(kExitFailure, "VM " + vm.to_string() + " matches domains " + ids + ": give --domain");
  }
  return found.front();
}

json call_dm(const std::string& socket, const json& request, std::chrono::milliseconds timeout) {
  try {
    control::Client c(socket, timeout);
    return c.call(request);
  } catch (const control::ControlError& e) {
    if (e.code() == "transport") throw CtlError(kExitNotRunning, e.what());
    if (e.code() == control::kErrNotFound) throw CtlError(kExitNotFound, e.what());
    if (e.code() == control::kErrBadRequest) throw CtlError(kExitUsage, e.what());
    throw CtlError(kExitFailure, e.what());
  }
}

// j[key] when present, else an empty array / object (no temporaries in range-for loops).
const json& arr(const json& j, const char* key) {
  static const json empty = json::array();
  return j.is_object() && j.contains(key) && j[key].is_array() ? j[key] : empty;
}
const json& obj(const json& j, const char* key) {
  static const json empty = json::object();
  return j.is_object() && j.contains(key) && j[key].is_object() ? j[key] : empty;
}

std::vector<json> dm_statuses(const Globals& g) {
  std::vector<json> out;
  for (const auto& dm : list_dm_sockets(g.run_dir)) {
    try {
      control::Client c(dm.socket, std::chrono::milliseconds(2000));
      json st = c.call({{"cmd", std::string(control::kStatus)}});
      st["control_socket"] = dm.socket;
      out.push_back(std::move(st));
    } catch (const std::exception& e) {
      // A socket nobody serves is what a killed device model left; a process that holds the
      // pidfile and does not answer is hung (or stopped), and is reported.
      const auto pid = dm::pidfile_owner(RunPaths::of(g.run_dir, dm.domid).pidfile);
      if (!pid) continue;
      out.push_back({{"domid", dm.domid.value},
                     {"pid", *pid},
                     {"state", kNotResponding},
                     {"error", e.what()},
                     {"control_socket", dm.socket},
                     {"vgpus", json::array()}});
    }
  }
  return out;
}

std::vector<json> live_dms(const Globals& g) {
  std::vector<json> out;
  for (auto& st : dm_statuses(g)) {
    if (st.value("state", std::string()) != kNotResponding) out.push_back(std::move(st));
  }
  return out;
}

std::optional<RunningVgpu> running_vgpu(const Globals& g, const std::string& uuid) {
  for (const auto& st : live_dms(g)) {
    for (const auto& v : arr(st, "vgpus")) {
      if (v.value("uuid", std::string()) == uuid)
        return RunningVgpu{st.value("domid", 0), v, st["control_socket"].get<std::string>()};
    }
  }
  return std::nullopt;
}

bool same_type(const std::string& a, const std::string& b) {
  return a == b || a.ends_with("/" + b) || b.ends_with("/" + a);
}

// The control socket of the device model serving `uuid`.
std::string socket_serving(const Globals& g, const std::string& uuid) {
  for (const auto& st : live_dms(g)) {
    for (const auto& v : arr(st, "vgpus")) {
      if (v.value("uuid", std::string()) == uuid) return st["control_socket"].get<std::string>();
    }
  }
  throw CtlError(kExitNotRunning, "vGPU " + uuid + " is not running in any device model");
}

std::string socket_of_domain(const Globals& g, Domid d) {
  const RunPaths p = RunPaths::of(g.run_dir, d);
  return p.socket;
}

void print(const Globals& g, const json& j, const std::function<void()>& human) {
  if (g.json_out) {
    std::cout << j.dump(2) << '\n';
  } else {
    human();
  }
}

std::string str(const json& j, const char* key, const std::string& fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// "name (uuid)", or whichever of the two is known, or "-".
std::string vm_label(const json& row) {
  const json& vm = obj(row, "vm");
  const std::string uuid = str(vm, "uuid", "");
  const std::string name = str(vm, "name", "");
  if (!uuid.empty() && !name.empty()) return name + " (" + uuid + ")";
  return !name.empty() ? name : (!uuid.empty() ? uuid : "-");
}

}  // namespace xvgpu::ctl
