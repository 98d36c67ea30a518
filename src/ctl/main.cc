// xvgpuctl: manage vGPUs on a Xen host. Subcommands: types, define, undefine, list, start, stop,
// status, stats, get, set, screenshot, console, hot-add, hot-remove. See docs/man/xvgpuctl.1.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "ctl/definition_store.h"
#include "ctl/dm_launcher.h"
#include "ctl/exit_codes.h"
#include "ctl/qemu_save_file.h"
#include "ctl/qmp_save_proxy.h"
#include "ctl/table.h"
#include "ctl/types_query.h"
#include "dm/control_protocol.h"
#include "dm/vgpu_plan.h"
#include "dm/vgpu_spec.h"
#include "dm/vm_ref.h"
#include "ioreq/domain_end.h"
#include "ioreq/domain_identity.h"

namespace xvgpu::ctl {
namespace {

using nlohmann::json;

// A failure with the exit code it maps to.
class CtlError : public Error {
 public:
  CtlError(int code, const std::string& what) : Error(what), code_(code) {}
  [[nodiscard]] int code() const { return code_; }

 private:
  int code_;
};

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

struct Globals {
  bool json_out = false;
  std::string config_dir = env_or("XVGPU_CONFIG_DIR", "/etc/xvgpu");
  std::string run_dir = env_or("XVGPU_RUN_DIR", "/run/xvgpu");
  std::string dm_path;
  std::vector<std::string> plugins;
  double timeout_s = 10.0;
  [[nodiscard]] std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  }
};

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

// Status of every live device model in the run directory.
std::vector<json> live_dms(const Globals& g) {
  std::vector<json> out;
  for (const auto& dm : list_dm_sockets(g.run_dir)) {
    try {
      control::Client c(dm.socket, std::chrono::milliseconds(2000));
      json st = c.call({{"cmd", std::string(control::kStatus)}});
      st["control_socket"] = dm.socket;
      out.push_back(std::move(st));
    } catch (const std::exception&) {
      // stale socket of a killed device model
    }
  }
  return out;
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

std::string str(const json& j, const char* key, const std::string& fallback = "-") {
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

// ---- subcommands ----

void cmd_types(const Globals& g) {
  const json t = query_types(g.plugins);
  print(g, t, [&] {
    Table tab({"GPU", "TYPE", "AVAILABLE", "ATTRIBUTES", "DESCRIPTION"});
    for (const auto& gpu : arr(t, "gpus")) {
      for (const auto& ty : arr(gpu, "types")) {
        std::string attrs;
        for (const auto& [k, v] : obj(ty, "attributes").items()) {
          attrs += (attrs.empty() ? "" : " ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
        }
        tab.add({str(gpu, "name"), str(ty, "name"), str(ty, "available"), attrs, str(ty, "description", "")});
      }
    }
    tab.print(std::cout);
  });
}

struct DefineArgs {
  std::string uuid;
  std::string type;
  std::string bdf;
  std::vector<std::string> knobs;
  std::string vm;
  long domain = -1;
  bool autostart = false;
  bool replace = false;
  std::string vnc;                // console address (spec key vnc=)
  std::string vnc_password_file;  // spec key vnc-password-file=
  std::string rom;                // spec key rom=
};

void cmd_define(const Globals& g, const DefineArgs& a) {
  std::string text =
      "uuid=" + (a.uuid.empty() ? std::string("00000000-0000-0000-0000-000000000000") : a.uuid) +
      ",type=" + a.type;
  if (!a.bdf.empty()) text += ",bdf=" + a.bdf;
  if (!a.vnc.empty()) text += ",vnc=" + a.vnc;
  if (!a.vnc_password_file.empty()) text += ",vnc-password-file=" + a.vnc_password_file;
  if (!a.rom.empty()) text += ",rom=" + a.rom;
  for (const auto& k : a.knobs) text += "," + k;
  Definition d;
  try {
    d.spec = VgpuSpec::parse(text);
  } catch (const Error& e) {
    throw CtlError(kExitUsage, e.what());
  }
  if (a.uuid.empty()) {
    // A fresh random (version 4) UUID, as mdevctl does when none is given.
    std::string u;
    std::ifstream in("/proc/sys/kernel/random/uuid");
    std::getline(in, u);
    d.spec.uuid = uuid_arg(u);
  }
  if (!a.vm.empty() && a.domain >= 0) throw CtlError(kExitUsage, "give --vm or --domain, not both");
  if (!a.vm.empty()) d.vm = vm_arg(a.vm);
  d.domain = domid_arg(a.domain);
  if (d.domain) {
    warn("--domain " + std::to_string(d.domain->value) +
         " is deprecated: a domain ID names one boot of a VM; use --vm UUID|NAME");
  }
  d.autostart = a.autostart;
  if (d.autostart && !d.vm)
    throw CtlError(kExitUsage, "--autostart needs --vm (the VM whose boots start it)");
  try {
    check_spec_against_vendors(d.spec, g.plugins);
  } catch (const dm::UnknownTypeError& e) {
    throw CtlError(kExitNotFound, e.what());
  } catch (const Error& e) {
    throw CtlError(kExitUsage, e.what());
  }
  DefinitionStore store(g.config_dir);
  if (!a.replace && store.find(d.spec.uuid)) {
    throw CtlError(kExitFailure, "vGPU " + d.spec.uuid + " is already defined (use --force to replace it)");
  }
  store.define(d, a.replace);
  print(g, d.to_json(), [&] { std::cout << d.spec.uuid << '\n'; });
}

void cmd_undefine(const Globals& g, const std::string& uuid_text) {
  const std::string uuid = uuid_arg(uuid_text);
  DefinitionStore store(g.config_dir);
  if (!store.undefine(uuid)) throw CtlError(kExitNotFound, "vGPU " + uuid + " is not defined");
  print(g, json{{"uuid", uuid}, {"undefined", true}}, [] {});
}

void cmd_list(const Globals& g, long domain_arg, bool defined_only, bool active_only) {
  const auto domain = domid_arg(domain_arg);
  DefinitionStore store(g.config_dir);
  std::vector<std::string> problems;
  const auto defs = store.list(&problems);
  for (const auto& p : problems) std::cerr << "xvgpuctl: warning: skipping " << p << '\n';
  // uuid -> (domain, vgpu status) of running instances
  std::map<std::string, std::pair<int, json>> running;
  if (!defined_only) {
    for (const auto& st : live_dms(g)) {
      for (const auto& v : arr(st, "vgpus")) {
        running[v.value("uuid", std::string())] = {st.value("domid", 0), v};
      }
    }
  }
  json rows = json::array();
  std::set<std::string> seen;
  for (const auto& d : defs) {
    seen.insert(d.spec.uuid);
    json r = d.to_json();
    r["defined"] = true;
    auto it = running.find(d.spec.uuid);
    r["running"] = it != running.end();
    r["vm"] = d.vm ? vm_json(d.vm->uuid, d.vm->name) : json(nullptr);
    if (it != running.end()) {
      r["running_domain"] = it->second.first;
      r["bdf"] = it->second.second.value("bdf", str(r, "bdf"));
      if (it->second.second.contains("vm")) r["vm"] = it->second.second["vm"];  // what the VM is now
    }
    rows.push_back(r);
  }
  for (const auto& [uuid, rv] : running) {
    if (seen.count(uuid) != 0) continue;
    json r = rv.second;
    r["defined"] = false;
    r["running"] = true;
    r["running_domain"] = rv.first;
    r["domain"] = rv.first;
    rows.push_back(r);
  }
  json filtered = json::array();
  for (const auto& r : rows) {
    if (active_only && !r.value("running", false)) continue;
    if (defined_only && !r.value("defined", false)) continue;
    if (domain) {
      const json dj = r.value("running", false) ? r["running_domain"] : r["domain"];
      if (dj.is_null() || dj.get<int>() != domain->value) continue;
    }
    filtered.push_back(r);
  }
  print(g, filtered, [&] {
    Table t({"UUID", "TYPE", "VM", "DOMAIN", "BDF", "STATE", "KNOBS"});
    for (const auto& r : filtered) {
      std::string knobs;
      for (const auto& [k, v] : obj(r, "knobs").items()) {
        knobs += (knobs.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
      }
      const bool run = r.value("running", false);
      const std::string state =
          run ? (r.value("defined", false) ? "running" : "running (transient)") : "defined";
      t.add({str(r, "uuid"), str(r, "type"), vm_label(r), run ? str(r, "running_domain") : str(r, "domain"),
             str(r, "bdf"), state, knobs.empty() ? "-" : knobs});
    }
    t.print(std::cout);
  });
}

struct StartArgs {
  std::vector<std::string> uuids;
  long domain = -1;
  std::string vm;
  bool autostart = false;
  std::string hot_add_room;
  std::vector<std::string> vgpus;
  bool foreground = false;
  std::vector<std::string> dm_args;
};

// What `start` runs: the domain, its VM (when known) and the vGPUs.
struct StartPlan {
  std::optional<Domid> domain;
  std::optional<ioreq::DomainIdentity> identity;
  std::vector<VmRef> required;  // VMs named on the command line or by the definitions given
  std::vector<VgpuSpec> specs;
};

bool is_vm(const std::optional<ioreq::DomainIdentity>& id, const VmRef& vm) {
  return id && vm.matches(ioreq::handle_text(id->handle), id->name);
}

void cmd_start(const Globals& g, const StartArgs& a) {
  StartPlan plan;
  plan.domain = domid_arg(a.domain);
  if (!a.vm.empty()) plan.required.push_back(vm_arg(a.vm));
  DefinitionStore store(g.config_dir);
  std::vector<Definition> named;
  for (const auto& t : a.uuids) {
    const std::string uuid = uuid_arg(t);
    auto d = store.find(uuid);
    if (!d) throw CtlError(kExitNotFound, "vGPU " + uuid + " is not defined");
    if (d->vm) plan.required.push_back(*d->vm);
    if (d->domain) {
      warn("vGPU " + uuid + " is defined for domain " + std::to_string(d->domain->value) +
           " (deprecated: redefine it with --vm UUID|NAME)");
      if (plan.domain && *plan.domain != *d->domain) {
        throw CtlError(kExitUsage, "vGPU " + uuid + " is defined for domain " +
                                       std::to_string(d->domain->value) + ", not " +
                                       std::to_string(plan.domain->value));
      }
      plan.domain = d->domain;
    }
    named.push_back(*d);
  }
  if (!plan.domain && !plan.required.empty()) plan.domain = running_domain_of(plan.required.front()).domid;
  if (!plan.domain) throw CtlError(kExitUsage, "--domain or --vm is required (no definition names a VM)");
  const std::string dom = "domain " + std::to_string(plan.domain->value);
  try {
    plan.identity = ioreq::domain_identity(*plan.domain);
    if (!plan.identity) throw CtlError(kExitNotRunning, dom + " does not exist");
  } catch (const CtlError&) {
    throw;
  } catch (const std::exception& e) {
    warn(dom + ": its VM is unknown (" + std::string(e.what()) + "); xvgpu-dm checks it");
  }
  if (plan.identity) {
    const std::string is = ioreq::handle_text(plan.identity->handle) +
                           (plan.identity->name.empty() ? "" : " '" + plan.identity->name + "'");
    for (const auto& vm : plan.required) {
      if (!is_vm(plan.identity, vm)) {
        std::string msg = "VM " + vm.to_string();
        msg += " is not " + dom;
        msg += " (that is VM " + is + ")";
        throw CtlError(kExitFailure, msg);
      }
    }
  }
  for (const auto& d : named) plan.specs.push_back(d.spec);
  for (const auto& t : a.vgpus) {
    try {
      plan.specs.push_back(VgpuSpec::parse(t));
    } catch (const Error& e) {
      throw CtlError(kExitUsage, "--vgpu " + t + ": " + e.what());
    }
  }
  const auto chosen = [&plan](const std::string& uuid) {
    return std::any_of(plan.specs.begin(), plan.specs.end(),
                       [&](const VgpuSpec& s) { return s.uuid == uuid; });
  };
  const bool explicit_vgpus = !a.uuids.empty() || !a.vgpus.empty();
  for (const auto& d : store.list()) {
    if (chosen(d.spec.uuid)) continue;
    const bool of_vm = d.vm && is_vm(plan.identity, *d.vm);
    if (a.autostart ? d.autostart && of_vm : !explicit_vgpus && (of_vm || d.domain == plan.domain)) {
      if (d.domain)
        warn("vGPU " + d.spec.uuid + " is defined for a domain ID (deprecated: redefine it with --vm)");
      plan.specs.push_back(d.spec);
    }
  }
  const Domid domain = *plan.domain;
  if (plan.specs.empty()) {
    if (a.autostart && !explicit_vgpus) {
      // The wrappers ask at every boot of every VM they start: no vGPU is no failure.
      print(g, json{{"domain", domain.value}, {"vgpus", json::array()}},
            [&] { std::cout << "no autostart vGPU for " << dom << '\n'; });
      return;
    }
    throw CtlError(kExitNotFound, "no vGPU to start for " + dom + " (define one with --vm, or pass --vgpu)");
  }
  std::vector<std::string> dm_args;
  if (!plan.required.empty()) dm_args.push_back("--vm=" + plan.required.front().to_string());
  if (!a.hot_add_room.empty()) dm_args.push_back("--hot-add-room=" + a.hot_add_room);
  dm_args.insert(dm_args.end(), a.dm_args.begin(), a.dm_args.end());
  const std::vector<VgpuSpec>& specs = plan.specs;
  LaunchRequest r;
  r.dm_path = g.dm_path;
  r.domid = domain;
  r.vgpus = specs;
  r.vendor_plugins = g.plugins;
  r.extra_args = dm_args;
  r.run_dir = g.run_dir;
  r.timeout = g.timeout();
  const std::string socket = socket_of_domain(g, domain);
  // A device model already serves the domain: add the vGPUs to it instead.
  bool live = false;
  try {
    control::Client c(socket, std::chrono::milliseconds(1000));
    c.call({{"cmd", std::string(control::kStatus)}});
    live = true;
  } catch (const std::exception&) {
  }
  if (live && !a.foreground) {
    json added = json::array();
    for (const auto& s : specs) {
      added.push_back(
          call_dm(socket, {{"cmd", std::string(control::kHotAdd)}, {"vgpu", s.to_string()}}, g.timeout()));
    }
    print(g, json{{"domain", domain.value}, {"hot_added", added}}, [&] {
      for (const auto& x : added)
        std::cout << "hot-added " << str(x, "uuid") << " at " << str(x, "bdf") << '\n';
    });
    return;
  }
  if (a.foreground) exec_dm(r);
  pid_t pid = 0;
  try {
    pid = launch_dm(r);
  } catch (const LaunchError& e) {
    throw CtlError(e.exit_code() == 2 ? kExitUsage : kExitDmFailed, e.what());
  }
  const RunPaths paths = RunPaths::of(g.run_dir, domain);
  json out{{"domain", domain.value},
           {"pid", pid},
           {"control_socket", paths.socket},
           {"log", paths.log},
           {"vgpus", json::array()}};
  for (const auto& s : specs) out["vgpus"].push_back(s.uuid);
  print(g, out, [&] {
    std::cout << "xvgpu-dm for domain " << domain.value << " is running (pid " << pid << ", " << specs.size()
              << " vGPU" << (specs.size() == 1 ? "" : "s") << ")\n";
  });
}

void cmd_stop(const Globals& g, long domain_arg, const std::string& uuid_text) {
  auto domain = domid_arg(domain_arg);
  if (!uuid_text.empty()) {
    const std::string uuid = uuid_arg(uuid_text);
    const std::string socket = socket_serving(g, uuid);
    const json st = call_dm(socket, {{"cmd", std::string(control::kStatus)}}, g.timeout());
    if (arr(st, "vgpus").size() > 1) {
      call_dm(socket, {{"cmd", std::string(control::kHotRemove)}, {"uuid", uuid}}, g.timeout());
      print(g, json{{"uuid", uuid}, {"hot_removed", true}}, [] {});
      return;
    }
    domain = Domid{static_cast<uint16_t>(st.value("domid", 0))};
  }
  if (!domain) throw CtlError(kExitUsage, "give --domain or a vGPU UUID");
  bool was_running = false;
  try {
    was_running = stop_dm(g.run_dir, *domain, g.timeout());
  } catch (const Error& e) {
    throw CtlError(kExitDmFailed, e.what());
  }
  if (!was_running) {
    throw CtlError(kExitNotRunning, "no device model is running for domain " + std::to_string(domain->value));
  }
  print(g, json{{"domain", domain->value}, {"stopped", true}}, [] {});
}

void cmd_status(const Globals& g, long domain_arg, bool wait) {
  const auto domain = domid_arg(domain_arg);
  if (wait) {
    if (!domain) throw CtlError(kExitUsage, "--wait needs --domain");
    const auto deadline = std::chrono::steady_clock::now() + g.timeout();
    const std::string socket = socket_of_domain(g, *domain);
    for (;;) {
      try {
        control::Client c(socket, std::chrono::milliseconds(500));
        if (c.call({{"cmd", std::string(control::kStatus)}}).value("state", std::string()) == "running")
          break;
      } catch (const std::exception&) {
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw CtlError(kExitNotRunning, "device model of domain " + std::to_string(domain->value) +
                                            " not ready after " + std::to_string(g.timeout().count()) +
                                            " ms");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  json all = json::array();
  for (auto& st : live_dms(g)) {
    if (domain && st.value("domid", 0) != domain->value) continue;
    all.push_back(st);
  }
  if (domain && all.empty()) {
    throw CtlError(kExitNotRunning, "no device model is running for domain " + std::to_string(domain->value));
  }
  print(g, all, [&] {
    Table t({"DOMAIN", "VM", "PID", "STATE", "UPTIME", "VGPU", "TYPE", "BDF", "VGPU STATE", "CONSOLE"});
    for (const auto& st : all) {
      const auto vg = arr(st, "vgpus");
      char up[32];
      std::snprintf(up, sizeof(up), "%.1fs", st.value("uptime_s", 0.0));
      const std::string vm = vm_label(st);
      if (vg.empty())
        t.add({str(st, "domid"), vm, str(st, "pid"), str(st, "state"), up, "-", "-", "-", "-", "-"});
      for (const auto& v : vg) {
        t.add({str(st, "domid"), vm, str(st, "pid"), str(st, "state"), up, str(v, "uuid"), str(v, "type"),
               str(v, "bdf"), str(v, "state"), str(obj(v, "console"), "vnc", "-")});
      }
    }
    t.print(std::cout);
  });
}

void cmd_stats(const Globals& g, const std::string& uuid_text, long domain_arg) {
  const auto domain = domid_arg(domain_arg);
  std::string socket;
  json req{{"cmd", std::string(control::kStats)}};
  if (!uuid_text.empty()) {
    const std::string uuid = uuid_arg(uuid_text);
    socket = socket_serving(g, uuid);
    req["uuid"] = uuid;
  } else if (domain) {
    socket = socket_of_domain(g, *domain);
  } else {
    throw CtlError(kExitUsage, "give a vGPU UUID or --domain");
  }
  const json s = call_dm(socket, req, g.timeout());
  print(g, s, [&] {
    Table t({"SCOPE", "COUNTER", "VALUE"});
    for (const auto& [k, v] : obj(s, "dm").items()) t.add({"device-model", k, v.dump()});
    for (const auto& vg : arr(s, "vgpus")) {
      for (const auto& [k, v] : obj(vg, "counters").items()) t.add({str(vg, "uuid"), k, v.dump()});
    }
    t.print(std::cout);
  });
}

void cmd_get(const Globals& g, const std::string& uuid_text, const std::string& knob) {
  const std::string uuid = uuid_arg(uuid_text);
  json req{{"cmd", std::string(control::kKnobGet)}, {"uuid", uuid}};
  if (!knob.empty()) req["name"] = knob;
  const json r = call_dm(socket_serving(g, uuid), req, g.timeout());
  print(g, r, [&] {
    const auto knobs = arr(r, "knobs");
    if (!knob.empty() && knobs.size() == 1) {
      std::cout << str(knobs[0], "value") << '\n';
      return;
    }
    Table t({"KNOB", "VALUE", "TYPE", "ACCESS", "DESCRIPTION"});
    for (const auto& k : knobs) {
      t.add({str(k, "name"), str(k, "value"), str(k, "type"), k.value("writable", false) ? "rw" : "ro",
             str(k, "description", "")});
    }
    t.print(std::cout);
  });
}

void cmd_set(const Globals& g, const std::string& uuid_text, const std::string& knob,
             const std::string& value) {
  const std::string uuid = uuid_arg(uuid_text);
  const json r =
      call_dm(socket_serving(g, uuid),
              {{"cmd", std::string(control::kKnobSet)}, {"uuid", uuid}, {"name", knob}, {"value", value}},
              g.timeout());
  print(g, r, [] {});
}

void cmd_screenshot(const Globals& g, const std::string& uuid_text, const std::string& file) {
  const std::string uuid = uuid_arg(uuid_text);
  const json r = call_dm(socket_serving(g, uuid),
                         {{"cmd", std::string(control::kScreenshot)}, {"uuid", uuid}}, g.timeout());
  const std::string png = control::base64_decode(r.value("png_base64", std::string()));
  if (png.size() < 8 || png.compare(1, 3, "PNG") != 0)
    throw CtlError(kExitFailure, "device model sent no PNG image");
  atomic_write_file(file, png);
  json out = r;
  out.erase("png_base64");
  out["file"] = file;
  out["bytes"] = png.size();
  print(g, out, [&] {
    std::cout << file << ": " << str(r, "width") << "x" << str(r, "height") << ", " << png.size()
              << " bytes\n";
  });
}

// The console of a running vGPU, from its device model's status: what a viewer connects to.
json console_of(const Globals& g, const std::string& uuid) {
  const json st = call_dm(socket_serving(g, uuid), {{"cmd", std::string(control::kStatus)}}, g.timeout());
  for (const auto& v : arr(st, "vgpus")) {
    if (v.value("uuid", std::string()) == uuid) return obj(v, "console");
  }
  throw CtlError(kExitNotRunning, "vGPU " + uuid + " is not running");
}

void cmd_console(const Globals& g, const std::string& uuid_text) {
  const std::string uuid = uuid_arg(uuid_text);
  json c = console_of(g, uuid);
  const std::string where = c.value("vnc", std::string("off"));
  if (where == "off") throw CtlError(kExitFailure, "vGPU " + uuid + " has no console (vnc=off)");
  c["uuid"] = uuid;
  print(g, c, [&] { std::cout << where << '\n'; });
}

void cmd_hot_add(const Globals& g, long domain_arg, const std::string& spec_text) {
  const auto domain = domid_arg(domain_arg);
  if (!domain) throw CtlError(kExitUsage, "--domain is required");
  VgpuSpec spec;
  try {
    spec = VgpuSpec::parse(spec_text);
  } catch (const Error& e) {
    throw CtlError(kExitUsage, spec_text + ": " + e.what());
  }
  const json r = call_dm(socket_of_domain(g, *domain),
                         {{"cmd", std::string(control::kHotAdd)}, {"vgpu", spec.to_string()}}, g.timeout());
  print(g, r, [&] { std::cout << "hot-added " << str(r, "uuid") << " at " << str(r, "bdf") << '\n'; });
}

void cmd_hot_remove(const Globals& g, const std::string& uuid_text) {
  const std::string uuid = uuid_arg(uuid_text);
  const json r = call_dm(socket_serving(g, uuid), {{"cmd", std::string(control::kHotRemove)}, {"uuid", uuid}},
                         g.timeout());
  print(g, json{{"uuid", uuid}, {"hot_removed", true}}, [] {});
}

// The device state of every vGPU of the domain's device model into FILE (xl save; restore with
// xvgpu-dm --restore-state). FILE is made absolute here: the device model writes it itself.
void cmd_save_state(const Globals& g, long domain_arg, const std::string& file) {
  const auto domain = domid_arg(domain_arg);
  if (!domain) throw CtlError(kExitUsage, "--domain is required");
  const std::string path = std::filesystem::absolute(file).string();
  const json r = call_dm(socket_of_domain(g, *domain),
                         {{"cmd", std::string(control::kSaveState)}, {"path", path}}, g.timeout());
  print(g, r, [&] {
    std::cout << "saved " << r.value("vgpus", 0) << " vGPU(s) of domain " << domain->value << " to " << path
              << " (" << r.value("bytes", 0) << " bytes)\n";
  });
}

// Between libxl and qemu-xen on libxl's QMP socket (xvgpu-qemu-wrapper starts it): a save of
// the guest's device model also saves its vGPUs (ctl/qmp_save_proxy.h).
void cmd_qmp_proxy(const Globals& g, long domain_arg, const std::string& listen, const std::string& qemu,
                   long watch_pid) {
  const auto domain = domid_arg(domain_arg);
  if (!domain) throw CtlError(kExitUsage, "--domain is required");
  if (listen.empty() || qemu.empty()) throw CtlError(kExitUsage, "--listen and --qemu are required");
  spdlog::set_level(spdlog::level::info);
  QmpSaveProxyOptions o;
  o.listen_path = listen;
  o.qemu_path = qemu;
  o.watch_pid = static_cast<pid_t>(watch_pid);
  o.on_devices_saved = [&g, d = *domain](int fd) {
    const std::string tmp = RunPaths::of(g.run_dir, d).socket + ".save-state";
    call_dm(socket_of_domain(g, d), {{"cmd", std::string(control::kSaveState)}, {"path", tmp}}, g.timeout());
    try {
      append_vgpu_state(fd, tmp);
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
    ::unlink(tmp.c_str());
  };
  run_qmp_save_proxy(o);
}

// The vGPU state behind QEMU's in a restored device-model file: QEMU's part and ours apart.
void cmd_split_state(const std::string& in, const std::string& qemu_out, const std::string& vgpu_out) {
  if (!split_vgpu_state(in, qemu_out, vgpu_out)) {
    throw CtlError(kExitNotFound, in + " carries no vGPU state (saved without xvgpu's QMP proxy?)");
  }
}

int run(int argc, char** argv) {
  Globals g;
  CLI::App app{"xvgpuctl: manage the virtual GPUs of Xen guests", "xvgpuctl"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_flag("--json", g.json_out, "Machine-readable JSON output");
  app.add_option("--config-dir", g.config_dir,
                 "Definitions directory (default /etc/xvgpu, $XVGPU_CONFIG_DIR)");
  app.add_option("--run-dir", g.run_dir, "Sockets, pidfiles and logs of device models (default /run/xvgpu)");
  app.add_option("--dm", g.dm_path, "The xvgpu-dm binary (default: $XVGPU_DM, beside xvgpuctl, or PATH)");
  app.add_option("--vendor-plugin", g.plugins, "Vendor plugin .so or directory (repeatable)")->take_all();
  app.add_option("--timeout", g.timeout_s, "Seconds to wait for a device model (default 10)")
      ->check(CLI::Range(0.1, 3600.0));

  app.add_subcommand("types", "List physical GPUs, vGPU types and available instances");

  DefineArgs da;
  auto* define = app.add_subcommand("define", "Define a persistent vGPU");
  define->add_option("--uuid,-u", da.uuid, "UUID (generated when omitted)");
  define->add_option("--type,-t", da.type, "vGPU type")->required();
  define->add_option("--bdf", da.bdf, "Guest PCI slot BB:DD.F (default: first free)");
  define->add_option("--knob,-k", da.knobs, "Creation knob name=value (repeatable)")->take_all();
  define->add_option("--vm", da.vm, "The VM (UUID or name) the vGPU belongs to");
  define->add_option("--domain,-d", da.domain, "Deprecated: a domain ID (one boot of a VM)");
  define->add_flag(
      "--autostart", da.autostart,
      "Start with every boot of its VM (by xvgpuctl start --autostart, as the xl scripts run it)");
  define->add_flag("--force", da.replace, "Replace an existing definition");
  define->add_option("--vnc", da.vnc,
                     "Console: off, HOST:PORT (0 = free port) or unix:PATH (default 127.0.0.1:0)");
  define->add_option("--vnc-password-file", da.vnc_password_file,
                     "VNC password: the first line of this file");
  define->add_option("--rom", da.rom,
                     "Expansion ROM: an option ROM file, or off (default: SeaVGABIOS for Bochs displays "
                     "where it fits the type)");

  std::string uuid1;
  auto* undefine = app.add_subcommand("undefine", "Remove a vGPU definition");
  undefine->add_option("uuid", uuid1, "vGPU UUID")->required();

  long list_domain = -1;
  bool list_defined = false;
  bool list_active = false;
  auto* list = app.add_subcommand("list", "List defined and running vGPUs");
  list->add_option("--domain,-d", list_domain, "Only vGPUs of this domain");
  list->add_flag("--defined", list_defined, "Only persistent definitions");
  list->add_flag("--active", list_active, "Only running vGPUs");

  StartArgs sa;
  auto* start = app.add_subcommand("start", "Start the device model of a domain (or add vGPUs to it)");
  start->add_option("uuid", sa.uuids, "Defined vGPUs to start (default: all defined for the VM)");
  start->add_option("--domain,-d", sa.domain, "Guest domain ID");
  start->add_option("--vm", sa.vm, "The VM (UUID or name): its running domain, checked by xvgpu-dm");
  start->add_flag("--autostart", sa.autostart,
                  "Also start the VM's --autostart definitions; none to start is no failure");
  start->add_option("--hot-add-room", sa.hot_add_room,
                    "VRAM held ready for later hot-adds, e.g. 256M (default: none)");
  start->add_option("--vgpu", sa.vgpus, "Transient vGPU uuid=U,type=T[,bdf=..][,knob=v] (repeatable)")
      ->take_all();
  start->add_flag("--foreground", sa.foreground, "Run xvgpu-dm in place of xvgpuctl (systemd)");
  start->add_option("--dm-arg", sa.dm_args, "Extra argument for xvgpu-dm (repeatable)")->take_all();

  long stop_domain = -1;
  std::string stop_uuid;
  auto* stop = app.add_subcommand("stop", "Stop the device model of a domain, or remove one vGPU from it");
  stop->add_option("uuid", stop_uuid, "vGPU UUID");
  stop->add_option("--domain,-d", stop_domain, "Guest domain ID");

  long status_domain = -1;
  bool status_wait = false;
  auto* status = app.add_subcommand("status", "Show running device models and their vGPUs");
  status->add_option("--domain,-d", status_domain, "Only this domain");
  status->add_flag("--wait", status_wait, "Wait (up to --timeout) until the domain's device model is ready");

  std::string stats_uuid;
  long stats_domain = -1;
  auto* stats = app.add_subcommand("stats", "Show statistics of a vGPU or of a domain's device model");
  stats->add_option("uuid", stats_uuid, "vGPU UUID");
  stats->add_option("--domain,-d", stats_domain, "Guest domain ID");

  std::string knob;
  std::string value;
  auto* get = app.add_subcommand("get", "Read vendor knobs of a running vGPU");
  get->add_option("uuid", uuid1, "vGPU UUID")->required();
  get->add_option("knob", knob, "Knob name (default: all)");
  auto* set = app.add_subcommand("set", "Write a vendor knob of a running vGPU");
  set->add_option("uuid", uuid1, "vGPU UUID")->required();
  set->add_option("knob", knob, "Knob name")->required();
  set->add_option("value", value, "New value")->required();

  std::string file;
  auto* shot = app.add_subcommand("screenshot", "Save the display of a running vGPU as PNG");
  shot->add_option("uuid", uuid1, "vGPU UUID")->required();
  shot->add_option("file", file, "Output .png file")->required();

  auto* console = app.add_subcommand("console", "Print where a running vGPU's VNC console listens");
  console->add_option("uuid", uuid1, "vGPU UUID")->required();

  long ha_domain = -1;
  std::string ha_spec;
  auto* hot_add = app.add_subcommand("hot-add", "Add a vGPU to a running domain's device model");
  hot_add->add_option("--domain,-d", ha_domain, "Guest domain ID")->required();
  hot_add->add_option("vgpu", ha_spec, "uuid=U,type=T[,bdf=BB:DD.F][,knob=value...]")->required();
  auto* hot_remove = app.add_subcommand("hot-remove", "Remove a vGPU from its running device model");
  hot_remove->add_option("uuid", uuid1, "vGPU UUID")->required();
  long save_domain = -1;
  auto* save_state = app.add_subcommand("save-state", "Save the device state of a domain's vGPUs (xl save)");
  save_state->add_option("--domain,-d", save_domain, "Guest domain ID");
  save_state->add_option("file", file, "State file (replaced)")->required();
  long proxy_domain = -1;
  long proxy_watch = 0;
  std::string proxy_listen;
  std::string proxy_qemu;
  auto* qmp_proxy = app.add_subcommand("qmp-proxy",
                                       "Pass libxl's QMP to qemu-xen, adding the vGPU state to saves "
                                       "(xvgpu-qemu-wrapper)");
  qmp_proxy->add_option("--domain,-d", proxy_domain, "Guest domain ID");
  qmp_proxy->add_option("--listen", proxy_listen, "Socket libxl connects to");
  qmp_proxy->add_option("--qemu", proxy_qemu, "qemu-xen's QMP server socket");
  qmp_proxy->add_option("--watch-pid", proxy_watch, "Serve while this process lives");
  std::string split_in;
  std::string split_qemu;
  std::string split_vgpu;
  auto* split = app.add_subcommand("split-state",
                                   "Split a restored device-model file into QEMU's part and the "
                                   "vGPU state (xvgpu-qemu-wrapper)");
  split->add_option("in", split_in, "The file libxl hands QEMU")->required();
  split->add_option("qemu-out", split_qemu, "QEMU's part")->required();
  split->add_option("vgpu-out", split_vgpu, "The vGPU state (xvgpu-dm --restore-state)")->required();

  long we_domain = -1;
  auto* wait_end = app.add_subcommand(
      "wait-end",
      "Wait until a domain shuts down or is gone; print how (reboot, poweroff, crash, ..., gone)");
  wait_end->add_option("--domain,-d", we_domain, "Guest domain ID")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    std::cerr << "xvgpuctl: " << msg << '\n';
    return kExitUsage;
  }
  if (g.dm_path.empty()) g.dm_path = default_dm_path(argv[0]);

  if (app.got_subcommand("types")) cmd_types(g);
  if (*define) cmd_define(g, da);
  if (*undefine) cmd_undefine(g, uuid1);
  if (*list) cmd_list(g, list_domain, list_defined, list_active);
  if (*start) cmd_start(g, sa);
  if (*stop) cmd_stop(g, stop_domain, stop_uuid);
  if (*status) cmd_status(g, status_domain, status_wait);
  if (*stats) cmd_stats(g, stats_uuid, stats_domain);
  if (*get) cmd_get(g, uuid1, knob);
  if (*set) cmd_set(g, uuid1, knob, value);
  if (*shot) cmd_screenshot(g, uuid1, file);
  if (*console) cmd_console(g, uuid1);
  if (*hot_add) cmd_hot_add(g, ha_domain, ha_spec);
  if (*hot_remove) cmd_hot_remove(g, uuid1);
  if (*wait_end) {
    // For supervisors (the PVH launcher restarts a VM whose guest rebooted).
    const Domid d = *domid_arg(we_domain);
    const std::string how = ioreq::wait_domain_end(d);
    print(g, json{{"domain", d.value}, {"end", how}}, [&] { std::cout << how << '\n'; });
  }
  if (*save_state) cmd_save_state(g, save_domain, file);
  if (*qmp_proxy) cmd_qmp_proxy(g, proxy_domain, proxy_listen, proxy_qemu, proxy_watch);
  if (*split) cmd_split_state(split_in, split_qemu, split_vgpu);
  return kExitOk;
}

}  // namespace
}  // namespace xvgpu::ctl

int main(int argc, char** argv) {
  // Library messages (vendor loading, ...) go to stderr, warnings and worse only: stdout is
  // for tables and JSON.
  auto logger = spdlog::stderr_logger_st("xvgpuctl");
  logger->set_pattern("xvgpuctl: %l: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
  bool json_out = false;
  for (int i = 1; i < argc; ++i) json_out = json_out || std::string(argv[i]) == "--json";
  auto fail = [&](int code, const std::string& msg) {
    if (json_out) std::cout << nlohmann::json{{"error", msg}, {"exit_code", code}}.dump() << '\n';
    std::cerr << "xvgpuctl: " << msg << '\n';
    return code;
  };
  try {
    return xvgpu::ctl::run(argc, argv);
  } catch (const xvgpu::ctl::CtlError& e) {
    return fail(e.code(), e.what());
  } catch (const std::exception& e) {
    return fail(xvgpu::ctl::kExitFailure, e.what());
  }
}
