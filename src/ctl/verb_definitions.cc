// xvgpuctl types, define, undefine, list: the vGPU types the vendors offer, and the persistent
// definitions in the config directory (with what runs of them).
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "control/vgpu_plan.h"
#include "control/vgpu_spec.h"
#include "ctl/definition_store.h"
#include "ctl/exit_codes.h"
#include "ctl/table.h"
#include "ctl/types_query.h"
#include "ctl/verbs.h"

namespace xvgpu::ctl {

using nlohmann::json;

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

}  // namespace xvgpu::ctl
