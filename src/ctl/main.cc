// xvgpuctl: manage vGPUs on a Xen host. This file wires the command line (CLI11) to the verbs of
// verbs.h. See docs/man/xvgpuctl.1.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <string>

#include "ctl/dm_launcher.h"
#include "ctl/exit_codes.h"
#include "ctl/verb_support.h"
#include "ctl/verbs.h"

namespace xvgpu::ctl {
namespace {

int run(int argc, char** argv) {
  Globals g;
  CLI::App app{"xvgpuctl: manage the virtual GPUs of Xen guests", "xvgpuctl"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string("xvgpuctl ") + XVGPU_VERSION);
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
  define->add_option("--type,-t", da.type, "vGPU type (required unless --jsonfile)");
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

  define->add_option("--jsonfile", da.jsonfile,
                     "The definition from a JSON file, as list --dumpjson prints it (with --uuid, --force)");

  ModifyArgs ma;
  auto* modify = app.add_subcommand("modify", "Change a vGPU definition (mdevctl modify)");
  modify->add_option("uuid", ma.uuid, "vGPU UUID")->required();
  modify->add_option("--type,-t", ma.type, "New vGPU type (refused while the vGPU runs)");
  modify->add_option("--bdf", ma.bdf, "New guest PCI slot 00:DD.F (refused while the vGPU runs)");
  modify->add_option("--knob,-k", ma.knobs, "Set creation knob name=value (repeatable)")->take_all();
  modify->add_option("--unset-knob", ma.unset_knobs, "Remove a knob: its default applies (repeatable)")
      ->take_all();
  modify->add_option("--vm", ma.vm, "The VM (UUID or name) the vGPU belongs to");
  modify->add_flag("--autostart", ma.autostart, "Start with every boot of its VM");
  modify->add_flag("--manual", ma.manual, "Do not start with every boot of its VM");
  modify->add_option("--vnc", ma.vnc, "Console: off, HOST:PORT or unix:PATH");
  modify->add_option("--rom", ma.rom, "Expansion ROM: an option ROM file, or off");
  modify->add_flag("--live", ma.live, "Also set the --knob values in the running vGPU");

  std::string uuid1;
  auto* undefine = app.add_subcommand("undefine", "Remove a vGPU definition");
  undefine->add_option("uuid", uuid1, "vGPU UUID")->required();

  ListArgs la;
  auto* list = app.add_subcommand("list", "List defined and running vGPUs");
  list->add_option("--domain,-d", la.domain, "Only vGPUs of this domain");
  list->add_option("--uuid,-u", la.uuid, "Only this vGPU");
  list->add_flag("--defined", la.defined_only, "Only persistent definitions");
  list->add_flag("--active", la.active_only, "Only running vGPUs");
  list->add_flag("--dumpjson", la.dumpjson, "The definitions as stored (for define --jsonfile)");

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
  auto* stop_domain_opt = stop->add_option("--domain,-d", stop_domain, "Guest domain ID");
  std::string stop_vm;
  stop->add_option("--vm", stop_vm, "The VM (UUID or name): the device model of its running domain")
      ->excludes(stop_domain_opt);

  long status_domain = -1;
  bool status_wait = false;
  auto* status = app.add_subcommand("status", "Show running device models and their vGPUs");
  auto* status_domain_opt = status->add_option("--domain,-d", status_domain, "Only this domain");
  std::string status_vm;
  status->add_option("--vm", status_vm, "Only the running domain of this VM (UUID or name)")
      ->excludes(status_domain_opt);
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
  bool set_persist = false;
  set->add_flag("--persist", set_persist, "Also store the value in the vGPU's definition");

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

  // Every --domain names a guest domain; a negative one would read as "not given".
  const CLI::Validator guest_domid(
      [](std::string& text) -> std::string {
        long d = 0;
        if (!CLI::detail::lexical_cast(text, d) || d <= 0 || d >= 0x7ff0)
          return "'" + text + "' is not a guest domain ID (1..32751)";
        return {};
      },
      "DOMID");
  for (auto* sub : app.get_subcommands({})) {
    if (auto* opt = sub->get_option_no_throw("--domain")) opt->check(guest_domid);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    // What CLI11 could not place before any subcommand is a misspelt (or mdevctl's) verb.
    const auto rest = app.remaining();
    if (app.get_subcommands().empty() && !rest.empty() && rest.front().rfind('-', 0) != 0) {
      std::string verbs;
      for (const auto* sub : app.get_subcommands({})) verbs += (verbs.empty() ? "" : ", ") + sub->get_name();
      msg = "unknown subcommand '" + rest.front() + "' (subcommands: " + verbs + ")";
    } else if (app.get_subcommands().empty() && rest.empty()) {
      msg = "a subcommand is required (xvgpuctl --help lists them)";
    }
    std::cerr << "xvgpuctl: " << msg << '\n';
    return kExitUsage;
  }
  if (g.dm_path.empty()) g.dm_path = default_dm_path(argv[0]);

  if (app.got_subcommand("types")) cmd_types(g);
  if (*define) cmd_define(g, da);
  if (*undefine) cmd_undefine(g, uuid1);
  if (*modify) cmd_modify(g, ma);
  if (*list) cmd_list(g, la);
  if (*start) cmd_start(g, sa);
  // --vm: the VM's running domain (the systemd unit is keyed by the VM, which outlives its domain IDs).
  const auto domain_of_vm = [](const std::string& vm) -> long {
    return running_domain_of(vm_arg(vm)).domid.value;
  };
  if (*stop) cmd_stop(g, stop_vm.empty() ? stop_domain : domain_of_vm(stop_vm), stop_uuid);
  if (*status) return cmd_status(g, status_vm.empty() ? status_domain : domain_of_vm(status_vm), status_wait);
  if (*stats) cmd_stats(g, stats_uuid, stats_domain);
  if (*get) cmd_get(g, uuid1, knob);
  if (*set) cmd_set(g, uuid1, knob, value, set_persist);
  if (*shot) cmd_screenshot(g, uuid1, file);
  if (*console) cmd_console(g, uuid1);
  if (*hot_add) cmd_hot_add(g, ha_domain, ha_spec);
  if (*hot_remove) cmd_hot_remove(g, uuid1);
  if (*wait_end) cmd_wait_end(g, we_domain);
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
