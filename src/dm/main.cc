// xvgpu-dm: the virtual-GPU device model for one Xen guest domain (docs/man/xvgpu-dm.1).
//
// Order of events: command line checked completely (exit 2, nothing touched) -> logging ->
// vendors loaded and every vGPU checked against them (still exit 2) -> xenstore connection ->
// ioreq server for the domain (privileged set-up, then restriction) -> vGPUs created and started
// -> control socket -> pidfile -> privileges dropped -> xenstore state "running" -> serve until
// shutdown, signal or domain death -> everything torn down in reverse.
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "control/builtin_vendors.h"
#include "control/pidfile.h"
#include "control/vgpu_plan.h"
#include "dm/console/console_set.h"
#include "dm/control_commands.h"
#include "dm/control_server.h"
#include "dm/device_state.h"
#include "dm/dm_logging.h"
#include "dm/dm_options.h"
#include "dm/privileges.h"
#include "dm/resource_limits.h"
#include "dm/seccomp_policy.h"
#include "dm/server_record.h"
#include "gpu/host_accounting.h"
#include "gpu/vgpu_manager.h"
#include "ioreq/domain_identity.h"
#include "ioreq/frontend.h"
#include "ioreq/stale_ioreq_server.h"
#include "ioreq/xen_ioctls.h"
#include "ioreq/xenstore_state.h"

namespace xvgpu::dm {
namespace {

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "xvgpu-dm: %s\n", msg.c_str());
  return kExitUsage;
}

// Loads built-in vendors and plugins; a plugin that does not load is a bad --vendor-plugin.
void load_vendors(gpu::VgpuManager& manager, const std::vector<std::string>& plugins) {
  control::register_builtin_vendors();
  manager.load_builtin_vendors();
  for (const auto& p : plugins) {
    try {
      if (std::filesystem::is_directory(p)) {
        for (const auto& f : manager.load_plugin_dir(p)) {
          throw UsageError("--vendor-plugin " + p + ": " + f.path.string() + ": " + f.message);
        }
      } else {
        manager.load_plugin(p);
      }
    } catch (const UsageError&) {
      throw;
    } catch (const std::exception& e) {
      throw UsageError("--vendor-plugin " + p + ": " + e.what());
    }
  }
}

// Destroys this process's vGPUs (newest first) before the frontend their platform points into.
void destroy_all(gpu::VgpuManager& manager) noexcept {
  auto all = manager.vgpus();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const std::string uuid = (*it)->uuid();
    it->reset();
    try {
      manager.destroy_vgpu(uuid);
      spdlog::info("vGPU {} destroyed", uuid);
    } catch (const std::exception& e) {
      spdlog::error("destroying vGPU {}: {}", uuid, e.what());
    }
  }
}

// A device model killed while serving this domain left its ioreq server registered with Xen,
// which would wait for it on every INVALIDATE broadcast: remove it before serving, but only if
// the record is of this very instance of the domain (domids are reused).
void remove_stale_servers(Domid domid, const std::optional<DomainHandle>& live) {
  const auto found = find_stale_servers(gpu::HostAccounting::default_state_dir(), domid);
  for (const auto& r : found.refused) {
    spdlog::warn("ioreq server record {} refused and removed: {}", r.file.string(), r.why);
  }
  const std::string now = live ? to_string(*live) : std::string("-");
  for (const auto& s : found.stale) {
    const std::string was = s.domain ? to_string(*s.domain) : std::string("(not recorded)");
    switch (judge_stale_server(s, live)) {
      case StaleVerdict::destroy:
        try {
          if (ioreq::destroy_stale_ioreq_server(domid, s.id)) {
            spdlog::warn(
                "destroyed ioreq server {} of domain {} ({}) left behind by xvgpu-dm pid {} (killed)", s.id,
                domid.value, now, s.pid);
          } else {
            spdlog::info("ioreq server {} of domain {} left by xvgpu-dm pid {} is already gone", s.id,
                         domid.value, s.pid);
          }
        } catch (const std::exception& e) {
          spdlog::warn("stale ioreq server {} of domain {}: {}", s.id, domid.value, e.what());
          continue;  // the record stays: a later start may succeed
        }
        break;
      case StaleVerdict::domain_gone:
        spdlog::info("ioreq server record {}: domain {} ({}) no longer exists; record discarded",
                     s.file.string(), domid.value, was);
        break;
      case StaleVerdict::other_instance:
        spdlog::warn(
            "ioreq server record {} of xvgpu-dm pid {} is of an earlier domain {} (handle {}); domain {} is "
            "now "
            "another domain (handle {}): its ioreq server {} left alone, record discarded",
            s.file.string(), s.pid, domid.value, was, domid.value, now, s.id);
        break;
      case StaleVerdict::unverifiable:
        spdlog::warn(
            "ioreq server record {} of xvgpu-dm pid {} names no domain handle (older format): cannot tell "
            "whether ioreq server {} belongs to this domain {} ({}), so it is left alone and the record "
            "discarded; if the guest's vCPUs hang on memory changes, restart the domain",
            s.file.string(), s.pid, s.id, domid.value, now);
        break;
    }
    discard_record(s);
  }
}

// The VM the domain is (nullopt: no such domain). With --vm, a
// domain of another VM is refused (throws Error). Throws Error when Xen cannot be asked.
std::optional<ioreq::DomainIdentity> identify_domain(const DmOptions& o) {
  std::optional<ioreq::DomainIdentity> id;
  const std::string dom = "domain " + std::to_string(o.domid.value);
  try {
    id = ioreq::domain_identity(o.domid);
  } catch (const std::exception& e) {
    throw Error(dom + ": cannot read its VM's UUID and name: " + e.what());
  }
  if (!id) {
    if (o.vm) throw Error("--vm " + o.vm->to_string() + ": " + dom + " does not exist");
    return std::nullopt;
  }
  const std::string uuid = ioreq::handle_text(id->handle);
  const std::string shown = uuid + (id->name.empty() ? " (no name in xenstore)" : " '" + id->name + "'");
  if (o.vm && !o.vm->matches(uuid, id->name)) {
    throw Error(
        "--vm " + o.vm->to_string() + ": domain " + std::to_string(o.domid.value) + " is VM " + shown +
        ", not this VM: refusing to serve it (a domain ID names one boot of a VM; was the VM rebooted or "
        "another one created?)");
  }
  spdlog::info("domain {} is VM {}", o.domid.value, shown);
  return id;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The saved state of --restore-state, read and checked against the command line before Xen is
// touched: the same vGPUs in the same order (their VRAM comes out of the pool in that order) and
// the same pool size. Throws Error naming the file and the problem.
DeviceState load_restore_state(const std::string& path, const std::vector<PlannedVgpu>& plan,
                               uint64_t direct_bytes) {
  const std::string where = "--restore-state " + path + ": ";
  DeviceState st;
  try {
    st = decode_device_state(read_device_state_file(path));
  } catch (const std::exception& e) {
    throw Error(where + e.what());
  }
  if (st.vgpus.size() != plan.size()) {
    throw Error(where + fmt::format("the saved device model had {} vGPU(s), the command line gives {}",
                                    st.vgpus.size(), plan.size()));
  }
  for (size_t i = 0; i < plan.size(); ++i) {
    const std::string& want = plan[i].config.type;
    const std::string type = want.substr(want.find('/') == std::string::npos ? 0 : want.find('/') + 1);
    if (lower(st.vgpus[i].uuid) != lower(plan[i].config.uuid) || st.vgpus[i].type != type) {
      throw Error(where +
                  fmt::format("saved vGPU {} is {} of type {}; --vgpu number {} is {} of type {} (give "
                              "the saved vGPUs in their order)",
                              i + 1, st.vgpus[i].uuid, st.vgpus[i].type, i + 1, plan[i].config.uuid, type));
    }
  }
  if (st.direct.pages * kPageSize != direct_bytes) {
    throw Error(where +
                fmt::format("the saved device model held {} KiB of direct memory (VRAM and hot-add room), "
                            "this one would hold {} KiB (same --vgpu list and --hot-add-room needed)",
                            st.direct.pages * kPageSize / 1024, direct_bytes / 1024));
  }
  return st;
}

int run(int argc, char** argv) {
  DmOptions o;
  try {
    o = parse_dm_options(argc, argv);
  } catch (const UsageError& e) {
    return usage_error(e.what());
  }
  if (o.help_requested) {
    std::fputs(o.help_text.c_str(), stdout);
    return kExitOk;
  }
  try {
    setup_logging(o.log_level, o.log_file, o.syslog, o.domid.value, o.log_max_bytes);
  } catch (const Error& e) {
    return usage_error(std::string("--log-file: ") + e.what());
  }

  // Until the command line is fully checked (vendors and types included), only warnings: a bad
  // argument must end in exactly one line.
  const auto level = spdlog::get_level();
  if (!o.log_file && !o.syslog) spdlog::set_level(std::max(level, spdlog::level::warn));
  gpu::VgpuManager manager;
  std::vector<PlannedVgpu> plan;
  std::vector<ConsoleOptions> console_plan;  // plan[i]'s console
  std::set<Sbdf> slots;
  uint64_t direct_bytes = 0;
  try {
    load_vendors(manager, o.vendor_plugins);
    // Slots given explicitly first, so that automatic ones go around them.
    for (const auto& s : o.vgpus) {
      if (s.bdf) slots.insert(*s.bdf);
    }
    for (const auto& s : o.vgpus) {
      std::set<Sbdf> others = slots;
      if (s.bdf) others.erase(*s.bdf);
      try {
        plan.push_back(plan_vgpu(manager, s, others));
      } catch (const Error& e) {
        throw UsageError("--vgpu " + s.to_string() + ": " + e.what());
      }
      slots.insert(plan.back().config.sbdf);
      direct_bytes += plan.back().direct_bytes;
      try {
        console_plan.push_back(console_options(s));
      } catch (const Error& e) {
        throw UsageError("--vgpu " + s.to_string() + ": " + e.what());
      }
    }
  } catch (const UsageError& e) {
    if (o.log_file || o.syslog) spdlog::error("{}", e.what());  // stderr gets the one line below
    return usage_error(e.what());
  }
  spdlog::set_level(level);
  for (const auto& g : manager.physical_gpus()) {
    spdlog::info("vendor {} {} ({}): physical GPU {}", g.info->vendor, g.vendor_version, g.source,
                 g.info->name);
  }
  // Room for vGPUs hot-added later only when the VM's configuration asks for it: populated
  // memory is the guest's from the start, used or not.
  const uint64_t startup_direct_bytes = direct_bytes;
  direct_bytes += o.hot_add_room;

  std::optional<DeviceState> restore;
  if (o.restore_state) {
    try {
      restore = load_restore_state(*o.restore_state, plan, direct_bytes);
    } catch (const Error& e) {
      spdlog::error("{}", e.what());
      if (o.log_file || o.syslog) std::fprintf(stderr, "xvgpu-dm: %s\n", e.what());
      return kExitFailure;
    }
    spdlog::info("restoring {} vGPU(s) from {}", restore->vgpus.size(), *o.restore_state);
  }

  ioreq::XenstoreState xs(o.xenstore_node);
  if (std::string why; !xs.open(why)) spdlog::warn("xenstore state key not written: {}", why);

  std::optional<ioreq::Frontend> frontend;
  std::optional<ServerRecord> server_record;
  int exit_code = kExitOk;
  try {
    // The instance of the domain this process serves; recorded with its server id.
    std::optional<DomainHandle> domain;
    VmInfo vm;
    bool identified = false;
    try {
      const auto identity = identify_domain(o);
      identified = true;
      if (identity) {
        domain = identity->handle;
        if (*domain != DomainHandle{}) vm.uuid = ioreq::handle_text(*domain);
        vm.name = identity->name;
      }
    } catch (const Error& e) {
      if (o.vm) throw;
      spdlog::warn("{}", e.what());
    }
    // Xen's own word for it would be a raw ESRCH from the first ioreq call.
    if (identified && !domain)
      throw Error("domain " + std::to_string(o.domid.value) +
                  " does not exist (create it first: xl create -p)");
    for (auto& p : plan) {
      p.config.vm_uuid = vm.uuid;
      p.config.vm_name = vm.name;
      p.config.incoming = o.restore_state.has_value();
    }
    try {
      if (identified) remove_stale_servers(o.domid, domain);
    } catch (const std::exception& e) {
      spdlog::warn("stale ioreq server records of domain {} not checked: {}", o.domid.value, e.what());
    }
    ioreq::FrontendOptions fo;
    fo.direct_memory_bytes = direct_bytes;
    // Not xentoolcore_restrict_all(): it would also cut our xenstore connection (libxenstore
    // drops a restricted socket), which must keep writing the state key under dom0's tree.
    // The frontend restricts every handle that reads guest input.
    fo.restrict_whole_process = false;
    fo.emulate_pci_cf8 = o.emulate_pci_cf8;
    if (restore && restore->direct.pages != 0) fo.adopt_direct_memory = restore->direct;
    // The trace file is opened before privileges are dropped and written when serving ends.
    std::unique_ptr<std::FILE, decltype(&std::fclose)> trace_file(nullptr, &std::fclose);
    if (o.ioreq_trace) {
      trace_file.reset(std::fopen(o.ioreq_trace->c_str(), "we"));
      if (!trace_file) throw SystemError(errno, "--ioreq-trace " + *o.ioreq_trace);
      fo.trace = std::make_shared<ioreq::IoreqTrace>();
    }
    frontend.emplace(o.domid, fo);
    spdlog::info("ioreq server up for domain {} ({} vCPUs)", o.domid.value, frontend->vcpu_count());
    try {
      if (!domain) throw Error("the domain's handle is not known");
      server_record.emplace(gpu::HostAccounting::default_state_dir(), o.domid, *domain,
                            frontend->server_id());
    } catch (const std::exception& e) {
      spdlog::warn("ioreq server not recorded ({}): after a crash, a new instance cannot remove it",
                   e.what());
    }

    std::optional<control::ControlServer> control;
    std::optional<PidFile> pidfile;
    ConsoleSet consoles;
    try {
      // Before the consoles (they hand it their clients' input) and, like them, before seccomp.
      if (o.input_qmp) {
        auto input = std::make_shared<QmpInput>(*o.input_qmp);
        spdlog::info("console input: waiting for the guest's QEMU on {}", input->where());
        consoles.set_input(std::move(input));
      }
      for (size_t i = 0; i < plan.size(); ++i) {
        auto v = manager.create_vgpu(plan[i].config, frontend->platform());
        if (restore) {
          const auto& snap = restore->vgpus[i].snapshot;
          std::istringstream in(std::string(snap.begin(), snap.end()));
          const auto t0 = std::chrono::steady_clock::now();
          try {
            v->restore(in);
          } catch (const std::exception& e) {
            throw Error("--restore-state " + *o.restore_state + ": vGPU " + v->uuid() + ": " + e.what());
          }
          spdlog::info(
              "vGPU {} restored from {} in {} ms", v->uuid(), *o.restore_state,
              std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                  .count());
        }
        v->start();
        spdlog::info("vGPU {} ({} on {}/{}) running at {}", v->uuid(), v->type().name,
                     v->pgpu().info().vendor, v->pgpu().info().name, v->sbdf().to_string());
        // Listening sockets are opened now: the serving phase's seccomp policy creates none.
        consoles.open(v, console_plan[i]);
      }
      // Every region back where the saved guest had it (BAR placements included), or the guest
      // would find its VRAM elsewhere.
      if (restore && restore->direct.pages != 0 && frontend->direct_layout() != restore->direct) {
        throw Error("--restore-state " + *o.restore_state +
                    ": the restored vGPUs' VRAM is not laid out as saved (another vGPU order or type?)");
      }
      ControlCommands commands(manager, *frontend, slots, consoles, o.seccomp == SeccompMode::Off, vm,
                               DirectMemoryCost{startup_direct_bytes, o.hot_add_room});
      control.emplace(o.control_socket, o.control_socket_mode,
                      [&commands](const nlohmann::json& req) { return commands.handle(req); });
      control->start();
      pidfile.emplace(o.pidfile);
      if (o.chroot_dir && !o.runas) {
        spdlog::warn("--chroot without --runas: a process that stays root can leave a chroot");
      }
      drop_privileges(o.chroot_dir, o.runas);
      apply_serving_resource_limits();
      // Set-up is over: from here on only what serving the guest needs (docs/security.md).
      if (o.seccomp != SeccompMode::Off) {
        SeccompOptions so;
        so.on_violation =
            o.seccomp == SeccompMode::Kill ? SeccompViolation::KillProcess : SeccompViolation::ErrnoAndLog;
        for (const auto& i : ioreq::xen_serving_ioctls()) so.allowed_ioctls.push_back(i.request);
        install_seccomp_policy(so);
      }
      spdlog::info("privileges: uid {} gid {}{}, limits set, seccomp {}", ::getuid(), ::getgid(),
                   o.chroot_dir ? ", chroot " + *o.chroot_dir : "",
                   o.seccomp == SeccompMode::Off ? "off" : (o.seccomp == SeccompMode::Kill ? "kill" : "log"));
      xs.set_running(::getpid(), o.control_socket);
      spdlog::info("ready: control socket {}, pidfile {}{}", o.control_socket, o.pidfile,
                   xs.connected() ? ", xenstore " + xs.node() + "/state=running" : "");

      const auto why = frontend->run(manager.bus(o.domid));
      spdlog::info("stopping: {}", ioreq::to_string(why));
      if (fo.trace) fo.trace->write(trace_file.get());
      if (why == ioreq::StopReason::Error) exit_code = kExitFailure;
      control->stop();  // no command may reach a vGPU being destroyed
    } catch (...) {
      if (control) control->stop();
      consoles.close_all();
      destroy_all(manager);
      throw;
    }
    if (pidfile) pidfile->remove();
    // Timed: a device model must be gone soon after its domain (the frontend times its own parts).
    const auto t0 = std::chrono::steady_clock::now();
    consoles.close_all();  // before the VRAM they show goes away
    const auto t1 = std::chrono::steady_clock::now();
    destroy_all(manager);
    const auto t2 = std::chrono::steady_clock::now();
    spdlog::info("teardown: consoles closed in {} ms, vGPUs destroyed in {} ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(t2 - t1).count());
    frontend.reset();
    spdlog::info("ioreq server for domain {} torn down", o.domid.value);
    if (exit_code == kExitOk) {
      xs.remove();
    } else {
      xs.set_error(exit_code, "the ioreq loop failed");
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    frontend.reset();
    try {
      xs.set_error(kExitFailure, e.what());
    } catch (const std::exception& e2) {
      spdlog::warn("{}", e2.what());
    }
    if (o.log_file || o.syslog) std::fprintf(stderr, "xvgpu-dm: %s\n", e.what());
    return kExitFailure;
  }
  return exit_code;
}

}  // namespace
}  // namespace xvgpu::dm

int main(int argc, char** argv) {
  return xvgpu::dm::run(argc, argv);
}
