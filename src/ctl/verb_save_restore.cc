// xvgpuctl save-state, qmp-proxy, split-state: the vGPU part of xl save and restore.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "control/control_protocol.h"
#include "ctl/dm_launcher.h"
#include "ctl/exit_codes.h"
#include "ctl/qemu_save_file.h"
#include "ctl/qmp_save_proxy.h"
#include "ctl/verbs.h"

namespace xvgpu::ctl {

using nlohmann::json;

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

}  // namespace xvgpu::ctl
