// xvgpuctl save-state, qmp-proxy, split-state, wait-end: what the xl scripts run: the vGPU part
// of xl save and restore, and the end of a domain.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "control/control_protocol.h"
#include "ctl/dm_launcher.h"
#include "ctl/exit_codes.h"
#include "ctl/qemu_save_file.h"
#include "ctl/qmp_save_proxy.h"
#include "ctl/verbs.h"
#include "ioreq/domain_end.h"

namespace xvgpu::ctl {

using nlohmann::json;

namespace {

struct SaveStateArgs {
  long domain = -1;
  std::string file;
};

struct QmpProxyArgs {
  long domain = -1;
  std::string listen;
  std::string qemu;
  long watch_pid = 0;
};

struct SplitStateArgs {
  std::string in;
  std::string qemu_out;
  std::string vgpu_out;
};

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

// For supervisors (the PVH launcher restarts a VM whose guest rebooted).
void cmd_wait_end(const Globals& g, long domain_arg) {
  const Domid d = *domid_arg(domain_arg);
  const std::string how = ioreq::wait_domain_end(d);
  print(g, json{{"domain", d.value}, {"end", how}}, [&] { std::cout << how << '\n'; });
}

}  // namespace

void add_save_restore_verbs(CLI::App& app, const Globals& g) {
  auto ss = std::make_shared<SaveStateArgs>();
  auto* save_state = app.add_subcommand("save-state", "Save the device state of a domain's vGPUs (xl save)");
  save_state->add_option("--domain,-d", ss->domain, "Guest domain ID");
  save_state->add_option("file", ss->file, "State file (replaced)")->required();
  save_state->callback([&g, ss] { cmd_save_state(g, ss->domain, ss->file); });

  auto pa = std::make_shared<QmpProxyArgs>();
  auto* qmp_proxy = app.add_subcommand("qmp-proxy",
                                       "Pass libxl's QMP to qemu-xen, adding the vGPU state to saves "
                                       "(xvgpu-qemu-wrapper)");
  qmp_proxy->add_option("--domain,-d", pa->domain, "Guest domain ID");
  qmp_proxy->add_option("--listen", pa->listen, "Socket libxl connects to");
  qmp_proxy->add_option("--qemu", pa->qemu, "qemu-xen's QMP server socket");
  qmp_proxy->add_option("--watch-pid", pa->watch_pid, "Serve while this process lives");
  qmp_proxy->callback([&g, pa] { cmd_qmp_proxy(g, pa->domain, pa->listen, pa->qemu, pa->watch_pid); });

  auto sa = std::make_shared<SplitStateArgs>();
  auto* split = app.add_subcommand("split-state",
                                   "Split a restored device-model file into QEMU's part and the "
                                   "vGPU state (xvgpu-qemu-wrapper)");
  split->add_option("in", sa->in, "The file libxl hands QEMU")->required();
  split->add_option("qemu-out", sa->qemu_out, "QEMU's part")->required();
  split->add_option("vgpu-out", sa->vgpu_out, "The vGPU state (xvgpu-dm --restore-state)")->required();
  split->callback([sa] { cmd_split_state(sa->in, sa->qemu_out, sa->vgpu_out); });

  auto we_domain = std::make_shared<long>(-1);
  auto* wait_end = app.add_subcommand(
      "wait-end",
      "Wait until a domain shuts down or is gone; print how (reboot, poweroff, crash, ..., gone)");
  wait_end->add_option("--domain,-d", *we_domain, "Guest domain ID")->required();
  wait_end->callback([&g, we_domain] { cmd_wait_end(g, *we_domain); });
}

}  // namespace xvgpu::ctl
