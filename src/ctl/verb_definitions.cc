// xvgpuctl types, define, undefine, list: the vGPU types the vendors offer, and the persistent
// definitions in the config directory (with what runs of them).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "control/control_protocol.h"
#include "control/vgpu_plan.h"
#include "control/vgpu_spec.h"
#include "ctl/definition_store.h"
#include "ctl/exit_codes.h"
#include "ctl/table.h"
#include "ctl/types_query.h"
#include "ctl/verbs.h"

namespace xvgpu::ctl {

using nlohmann::json;

namespace {

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
  std::string jsonfile;           // a definition as list --dumpjson prints it
};

// Changes to a stored definition (mdevctl modify); empty / unset members leave a field as it is.
struct ModifyArgs {
  std::string uuid;
  std::string type;
  std::string bdf;
  std::vector<std::string> knobs;        // K=V: added or changed
  std::vector<std::string> unset_knobs;  // K: removed (the vendor's default applies)
  std::string vm;
  bool autostart = false;
  bool manual = false;  // not --autostart any more
  std::string vnc;
  std::string rom;
  bool live = false;  // also set the --knob values in the running vGPU
};

struct ListArgs {
  long domain = -1;
  std::string uuid;
  bool defined_only = false;
  bool active_only = false;
  bool dumpjson = false;  // the definitions as stored (define --jsonfile reads them back)
};

void cmd_types(const Globals& g) {
  const json t = query_types(g.plugins);
  print(g, t, [&] {
    Table tab({"GPU", "TYPE", "AVAILABLE", "IN USE", "ATTRIBUTES", "KNOBS", "DESCRIPTION"});
    for (const auto& gpu : arr(t, "gpus")) {
      for (const auto& ty : arr(gpu, "types")) {
        std::string attrs;
        for (const auto& [k, v] : obj(ty, "attributes").items()) {
          if (v.is_null()) continue;  // max_instances: no static limit
          attrs += (attrs.empty() ? "" : " ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
        }
        // name=accepted values, c: creation knob (define --knob), r: run-time knob (set)
        std::string knobs;
        for (const auto& k : arr(ty, "knobs")) {
          const std::string when =
              std::string(k.value("at_create", false) ? "c" : "") + (k.value("runtime", false) ? "r" : "");
          knobs += (knobs.empty() ? "" : " ") + str(k, "name") + "=" + str(k, "values") + "(" + when + ")";
        }
        tab.add({str(gpu, "name"), str(ty, "name"), str(ty, "available"), str(ty, "in_use"), attrs,
                 knobs.empty() ? "-" : knobs, str(ty, "description", "")});
      }
    }
    tab.print(std::cout);
  });
}

// A fresh random (version 4) UUID, as mdevctl makes one when none is given.
std::string fresh_uuid() {
  std::string u;
  std::ifstream in("/proc/sys/kernel/random/uuid");
  std::getline(in, u);
  return uuid_arg(u);
}

// What every stored definition passes: the vendors accept its type and knobs (exit 3 for an
// unknown type, 2 otherwise), and a vGPU that runs keeps its type and slot (it cannot change
// under a running guest, and list would show a type that is not the one running).
void check_definition(const Globals& g, const Definition& d) {
  if (d.autostart && !d.vm)
    throw CtlError(kExitUsage, "--autostart needs --vm (the VM whose boots start it)");
  try {
    check_spec_against_vendors(d.spec, g.plugins);
  } catch (const dm::UnknownTypeError& e) {
    throw CtlError(kExitNotFound, e.what());
  } catch (const Error& e) {
    throw CtlError(kExitUsage, e.what());
  }
  const auto r = running_vgpu(g, d.spec.uuid);
  if (!r) return;
  const std::string where = "vGPU " + d.spec.uuid + " runs in domain " + std::to_string(r->domid);
  const std::string running_type = str(r->status, "type", "");
  if (!same_type(running_type, d.spec.type)) {
    throw CtlError(kExitFailure, where + " as " + running_type + ": its type cannot change to " +
                                     d.spec.type + " while it runs (stop it first)");
  }
  const std::string running_bdf = str(r->status, "bdf", "");
  if (d.spec.bdf && d.spec.to_json().value("bdf", std::string()) != running_bdf) {
    throw CtlError(kExitFailure, where + " at " + running_bdf + ": its slot cannot change to " +
                                     d.spec.to_json().value("bdf", std::string()) +
                                     " while it runs (stop it first)");
  }
}

json read_json_file(const std::string& what, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw CtlError(kExitUsage, what + " " + path + ": cannot be read");
  try {
    return json::parse(in);
  } catch (const std::exception& e) {
    throw CtlError(kExitUsage, what + " " + path + ": not JSON: " + e.what());
  }
}

// define --jsonfile: the definition a list --dumpjson printed (an object, or an array of one).
Definition definition_from_file(const DefineArgs& a) {
  if (!a.type.empty() || !a.bdf.empty() || !a.knobs.empty() || !a.vm.empty() || a.domain >= 0 ||
      a.autostart || !a.vnc.empty() || !a.vnc_password_file.empty() || !a.rom.empty()) {
    throw CtlError(kExitUsage, "--jsonfile gives the whole definition: only --uuid and --force go with it");
  }
  json j = read_json_file("--jsonfile", a.jsonfile);
  if (j.is_array() && j.size() == 1) j = j[0];
  if (!j.is_object())
    throw CtlError(kExitUsage, "--jsonfile " + a.jsonfile + ": not one definition (a JSON object)");
  if (!a.uuid.empty()) j["uuid"] = uuid_arg(a.uuid);
  const bool generate = !j.contains("uuid") || j["uuid"].is_null();
  if (generate) j["uuid"] = "00000000-0000-0000-0000-000000000000";
  Definition d;
  try {
    d = Definition::from_json(j);
  } catch (const std::exception& e) {
    throw CtlError(kExitUsage, "--jsonfile " + a.jsonfile + ": " + e.what());
  }
  if (generate) d.spec.uuid = fresh_uuid();
  return d;
}

Definition definition_from_args(const DefineArgs& a) {
  if (a.type.empty()) throw CtlError(kExitUsage, "--type is required (or --jsonfile)");
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
  if (a.uuid.empty()) d.spec.uuid = fresh_uuid();
  if (!a.vm.empty() && a.domain >= 0) throw CtlError(kExitUsage, "give --vm or --domain, not both");
  if (!a.vm.empty()) d.vm = vm_arg(a.vm);
  d.domain = domid_arg(a.domain);
  d.autostart = a.autostart;
  return d;
}

void cmd_define(const Globals& g, const DefineArgs& a) {
  Definition d = a.jsonfile.empty() ? definition_from_args(a) : definition_from_file(a);
  if (d.domain) {
    warn("--domain " + std::to_string(d.domain->value) +
         " is deprecated: a domain ID names one boot of a VM; use --vm UUID|NAME");
  }
  check_definition(g, d);
  DefinitionStore store(g.config_dir);
  if (!a.replace && store.find(d.spec.uuid)) {
    throw CtlError(kExitFailure, "vGPU " + d.spec.uuid + " is already defined (use --force to replace it)");
  }
  store.define(d, a.replace);
  print(g, d.to_json(), [&] { std::cout << d.spec.uuid << '\n'; });
}

void cmd_modify(const Globals& g, const ModifyArgs& a) {
  const std::string uuid = uuid_arg(a.uuid);
  DefinitionStore store(g.config_dir);
  const auto old = store.find(uuid);
  if (!old) throw CtlError(kExitNotFound, "vGPU " + uuid + " is not defined");
  if (a.autostart && a.manual) throw CtlError(kExitUsage, "give --autostart or --manual, not both");
  Definition d = *old;
  // The changes as a spec, so that they get define's parsing and messages.
  std::string text = "uuid=" + uuid + ",type=" + (a.type.empty() ? d.spec.type : a.type);
  if (!a.bdf.empty()) text += ",bdf=" + a.bdf;
  if (!a.vnc.empty()) text += ",vnc=" + a.vnc;
  if (!a.rom.empty()) text += ",rom=" + a.rom;
  for (const auto& k : a.knobs) text += "," + k;
  VgpuSpec change;
  try {
    change = VgpuSpec::parse(text);
  } catch (const Error& e) {
    throw CtlError(kExitUsage, e.what());
  }
  d.spec.type = change.type;
  if (change.bdf) d.spec.bdf = change.bdf;
  if (change.vnc) d.spec.vnc = change.vnc;
  if (change.rom) d.spec.rom = change.rom;
  auto& knobs = d.spec.knobs;
  for (const auto& name : a.unset_knobs) {
    const auto it = std::find_if(knobs.begin(), knobs.end(), [&](const auto& k) { return k.first == name; });
    if (it == knobs.end()) {
      std::string msg = "the definition of vGPU ";
      msg.append(uuid).append(" has no knob '").append(name).append("'");
      throw CtlError(kExitNotFound, msg);
    }
    knobs.erase(it);
  }
  for (const auto& knob : change.knobs) {
    const auto it =
        std::find_if(knobs.begin(), knobs.end(), [&](const auto& k) { return k.first == knob.first; });
    if (it == knobs.end()) {
      knobs.push_back(knob);
    } else {
      it->second = knob.second;
    }
  }
  if (!a.vm.empty()) {
    d.vm = vm_arg(a.vm);
    d.domain.reset();  // the VM replaces the deprecated domain ID
  }
  if (a.autostart) d.autostart = true;
  if (a.manual) d.autostart = false;
  check_definition(g, d);
  if (a.live) {
    if (change.knobs.empty()) throw CtlError(kExitUsage, "--live changes knobs: give --knob");
    const auto r = running_vgpu(g, uuid);
    if (!r) throw CtlError(kExitNotRunning, "vGPU " + uuid + " is not running: nothing to change --live");
    for (const auto& [name, value] : change.knobs) {
      call_dm(r->socket,
              {{"cmd", std::string(control::kKnobSet)}, {"uuid", uuid}, {"name", name}, {"value", value}},
              g.timeout());
    }
  }
  store.define(d, true);
  print(g, d.to_json(), [&] { std::cout << uuid << '\n'; });
}

void cmd_undefine(const Globals& g, const std::string& uuid_text) {
  const std::string uuid = uuid_arg(uuid_text);
  DefinitionStore store(g.config_dir);
  if (!store.undefine(uuid)) throw CtlError(kExitNotFound, "vGPU " + uuid + " is not defined");
  print(g, json{{"uuid", uuid}, {"undefined", true}}, [] {});
}

void cmd_list(const Globals& g, const ListArgs& a) {
  const auto domain = domid_arg(a.domain);
  const bool defined_only = a.defined_only;
  const bool active_only = a.active_only;
  const std::string only = a.uuid.empty() ? std::string() : uuid_arg(a.uuid);
  DefinitionStore store(g.config_dir);
  std::vector<std::string> problems;
  auto defs = store.list(&problems);
  for (const auto& p : problems) std::cerr << "xvgpuctl: warning: skipping " << p << '\n';
  if (!only.empty()) std::erase_if(defs, [&](const Definition& d) { return d.spec.uuid != only; });
  if (a.dumpjson) {
    // As stored, for define --jsonfile: one object for --uuid, else an array.
    if (!only.empty()) {
      if (defs.empty()) throw CtlError(kExitNotFound, "vGPU " + only + " is not defined");
      std::cout << defs.front().to_json().dump(2) << '\n';
      return;
    }
    json all = json::array();
    for (const auto& d : defs) {
      if (!domain || (d.domain && *d.domain == *domain)) all.push_back(d.to_json());
    }
    std::cout << all.dump(2) << '\n';
    return;
  }
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
    if (seen.count(uuid) != 0 || (!only.empty() && uuid != only)) continue;
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

}  // namespace

void add_definition_verbs(CLI::App& app, const Globals& g) {
  app.add_subcommand("types", "List physical GPUs, vGPU types and available instances")->callback([&g] {
    cmd_types(g);
  });

  auto da = std::make_shared<DefineArgs>();
  auto* define = app.add_subcommand("define", "Define a persistent vGPU");
  define->add_option("--uuid,-u", da->uuid, "UUID (generated when omitted)");
  define->add_option("--type,-t", da->type, "vGPU type (required unless --jsonfile)");
  define->add_option("--bdf", da->bdf, "Guest PCI slot BB:DD.F (default: first free)");
  define->add_option("--knob,-k", da->knobs, "Creation knob name=value (repeatable)")->take_all();
  define->add_option("--vm", da->vm, "The VM (UUID or name) the vGPU belongs to");
  define->add_option("--domain,-d", da->domain, "Deprecated: a domain ID (one boot of a VM)");
  define->add_flag(
      "--autostart", da->autostart,
      "Start with every boot of its VM (by xvgpuctl start --autostart, as the xl scripts run it)");
  define->add_flag("--force", da->replace, "Replace an existing definition");
  define->add_option("--vnc", da->vnc,
                     "Console: off, HOST:PORT (0 = free port) or unix:PATH (default 127.0.0.1:0)");
  define->add_option("--vnc-password-file", da->vnc_password_file,
                     "VNC password: the first line of this file");
  define->add_option("--rom", da->rom,
                     "Expansion ROM: an option ROM file, or off (default: SeaVGABIOS for Bochs displays "
                     "where it fits the type)");
  define->add_option("--jsonfile", da->jsonfile,
                     "The definition from a JSON file, as list --dumpjson prints it (with --uuid, --force)");
  define->callback([&g, da] { cmd_define(g, *da); });

  auto ma = std::make_shared<ModifyArgs>();
  auto* modify = app.add_subcommand("modify", "Change a vGPU definition (mdevctl modify)");
  modify->add_option("uuid", ma->uuid, "vGPU UUID")->required();
  modify->add_option("--type,-t", ma->type, "New vGPU type (refused while the vGPU runs)");
  modify->add_option("--bdf", ma->bdf, "New guest PCI slot 00:DD.F (refused while the vGPU runs)");
  modify->add_option("--knob,-k", ma->knobs, "Set creation knob name=value (repeatable)")->take_all();
  modify->add_option("--unset-knob", ma->unset_knobs, "Remove a knob: its default applies (repeatable)")
      ->take_all();
  modify->add_option("--vm", ma->vm, "The VM (UUID or name) the vGPU belongs to");
  modify->add_flag("--autostart", ma->autostart, "Start with every boot of its VM");
  modify->add_flag("--manual", ma->manual, "Do not start with every boot of its VM");
  modify->add_option("--vnc", ma->vnc, "Console: off, HOST:PORT or unix:PATH");
  modify->add_option("--rom", ma->rom, "Expansion ROM: an option ROM file, or off");
  modify->add_flag("--live", ma->live, "Also set the --knob values in the running vGPU");
  modify->callback([&g, ma] { cmd_modify(g, *ma); });

  auto uuid = std::make_shared<std::string>();
  auto* undefine = app.add_subcommand("undefine", "Remove a vGPU definition");
  undefine->add_option("uuid", *uuid, "vGPU UUID")->required();
  undefine->callback([&g, uuid] { cmd_undefine(g, *uuid); });

  auto la = std::make_shared<ListArgs>();
  auto* list = app.add_subcommand("list", "List defined and running vGPUs");
  list->add_option("--domain,-d", la->domain, "Only vGPUs of this domain");
  list->add_option("--uuid,-u", la->uuid, "Only this vGPU");
  list->add_flag("--defined", la->defined_only, "Only persistent definitions");
  list->add_flag("--active", la->active_only, "Only running vGPUs");
  list->add_flag("--dumpjson", la->dumpjson, "The definitions as stored (for define --jsonfile)");
  list->callback([&g, la] { cmd_list(g, *la); });
}

}  // namespace xvgpu::ctl
