// xvgpuctl stop, status, wait-end: the device models of domains, and the end of a domain.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "control/control_protocol.h"
#include "ctl/dm_launcher.h"
#include "ctl/exit_codes.h"
#include "ctl/table.h"
#include "ctl/verbs.h"
#include "ioreq/domain_end.h"

namespace xvgpu::ctl {

using nlohmann::json;

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
      (void)std::snprintf(up, sizeof(up), "%.1fs", st.value("uptime_s", 0.0));
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

// For supervisors (the PVH launcher restarts a VM whose guest rebooted).
void cmd_wait_end(const Globals& g, long domain_arg) {
  const Domid d = *domid_arg(domain_arg);
  const std::string how = ioreq::wait_domain_end(d);
  print(g, json{{"domain", d.value}, {"end", how}}, [&] { std::cout << how << '\n'; });
}

}  // namespace xvgpu::ctl
