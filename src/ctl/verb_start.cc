// xvgpuctl start: the device model of a domain, launched (or told to add vGPUs) with the vGPUs
// of the definitions given, of the VM's autostart definitions, or given on the command line.
#include <CLI/CLI.hpp>

#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "control/control_protocol.h"
#include "control/vgpu_plan.h"
#include "control/vgpu_spec.h"
#include "ctl/definition_store.h"
#include "ctl/dm_launcher.h"
#include "ctl/exit_codes.h"
#include "ctl/types_query.h"
#include "ctl/verbs.h"

namespace xvgpu::ctl {

using nlohmann::json;

namespace {

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
  const std::size_t explicit_count = plan.specs.size();  // the vGPUs named on the command line come first
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
  r.log_key = plan.identity
                  ? run_log_key(plan.identity->name, ioreq::handle_text(plan.identity->handle), domain)
                  : run_log_key("", "", domain);
  r.timeout = g.timeout();
  const std::string socket = socket_of_domain(g, domain);
  // A device model already serves the domain: add the vGPUs to it instead.
  std::optional<json> live;
  try {
    control::Client c(socket, std::chrono::milliseconds(1000));
    live = c.call({{"cmd", std::string(control::kStatus)}});
  } catch (const std::exception&) {
  }
  if (live && !a.foreground) {
    // Of the VM's definitions, those it serves already stay as they are and the others (defined since it
    // started) are added. A vGPU asked for by name that runs already is refused, as before.
    std::set<std::string> running;
    for (const auto& v : arr(*live, "vgpus")) running.insert(str(v, "uuid"));
    for (std::size_t i = 0; i < explicit_count; ++i) {
      if (running.count(specs[i].uuid) != 0)
        throw CtlError(kExitFailure, "vGPU " + specs[i].uuid + " already runs in " + dom);
    }
    json added = json::array();
    json already = json::array();
    for (const auto& s : specs) {
      if (running.count(s.uuid) != 0) {
        already.push_back(s.uuid);
        continue;
      }
      added.push_back(
          call_dm(socket, {{"cmd", std::string(control::kHotAdd)}, {"vgpu", s.to_string()}}, g.timeout()));
    }
    print(g, json{{"domain", domain.value}, {"hot_added", added}, {"already_running", already}}, [&] {
      for (const auto& x : added)
        std::cout << "hot-added " << str(x, "uuid") << " at " << str(x, "bdf") << '\n';
      for (const auto& u : already) std::cout << "already running " << u.get<std::string>() << '\n';
    });
    return;
  }
  if (a.foreground) exec_dm(r);
  Launched launched;
  try {
    launched = launch_dm(r);
  } catch (const LaunchError& e) {
    throw CtlError(e.exit_code() == 2 ? kExitUsage : kExitDmFailed, e.what());
  }
  const pid_t pid = launched.pid;
  const RunPaths paths = RunPaths::of(g.run_dir, domain);
  json out{{"domain", domain.value},
           {"pid", pid},
           {"control_socket", paths.socket},
           {"log", launched.log},
           {"vgpus", json::array()}};
  for (const auto& s : specs) out["vgpus"].push_back(s.uuid);
  print(g, out, [&] {
    std::cout << "xvgpu-dm for domain " << domain.value << " is running (pid " << pid << ", " << specs.size()
              << " vGPU" << (specs.size() == 1 ? "" : "s") << ")\n";
  });
}

}  // namespace

void add_start_verbs(CLI::App& app, const Globals& g) {
  auto sa = std::make_shared<StartArgs>();
  auto* start = app.add_subcommand("start", "Start the device model of a domain (or add vGPUs to it)");
  start->add_option("uuid", sa->uuids, "Defined vGPUs to start (default: all defined for the VM)");
  start->add_option("--domain,-d", sa->domain, "Guest domain ID");
  start->add_option("--vm", sa->vm, "The VM (UUID or name): its running domain, checked by xvgpu-dm");
  start->add_flag("--autostart", sa->autostart,
                  "Also start the VM's --autostart definitions; none to start is no failure");
  start->add_option("--hot-add-room", sa->hot_add_room,
                    "VRAM held ready for later hot-adds, e.g. 256M (default: none)");
  start->add_option("--vgpu", sa->vgpus, "Transient vGPU uuid=U,type=T[,bdf=..][,knob=v] (repeatable)")
      ->take_all();
  start->add_flag("--foreground", sa->foreground, "Run xvgpu-dm in place of xvgpuctl (systemd)");
  start->add_option("--dm-arg", sa->dm_args, "Extra argument for xvgpu-dm (repeatable)")->take_all();
  start->callback([&g, sa] { cmd_start(g, *sa); });
}

}  // namespace xvgpu::ctl
