// xvgpuctl stop, status: the device models of domains.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "control/control_protocol.h"
#include "ctl/dm_launcher.h"
#include "ctl/exit_codes.h"
#include "ctl/table.h"
#include "ctl/verbs.h"
#include "dm/server_record.h"
#include "gpu/host_accounting.h"
#include "ioreq/stale_ioreq_server.h"

namespace xvgpu::ctl {

using nlohmann::json;

namespace {

struct StopArgs {
  std::string uuid;
  long domain = -1;
  std::string vm;
};

struct StatusArgs {
  long domain = -1;
  std::string vm;
  bool wait = false;
};

// --vm: the VM's running domain (the systemd unit is keyed by the VM, which outlives its domain
// IDs); else --domain.
long domain_or_vm(long domain, const std::string& vm) {
  return vm.empty() ? domain : running_domain_of(vm_arg(vm)).domid.value;
}

// A killed device model leaves its ioreq server registered with Xen (recorded in the state
// directory): destroy it when the record is of this very instance of the domain. Returns what
// was done, one line each.
std::vector<std::string> remove_left_ioreq_servers(Domid domid) {
  std::vector<std::string> done;
  const auto found = dm::find_stale_servers(gpu::HostAccounting::default_state_dir(), domid);
  for (const auto& r : found.refused)
    done.push_back("removed unusable record " + r.file.string() + ": " + r.why);
  if (found.stale.empty()) return done;
  std::optional<dm::DomainHandle> live;
  try {
    live = ioreq::domain_handle(domid);
  } catch (const std::exception& e) {
    done.push_back("cannot ask Xen about domain " + std::to_string(domid.value) + " (" + e.what() +
                   "): ioreq server records left for the next device model");
    return done;
  }
  for (const auto& s : found.stale) {
    const std::string id = std::to_string(s.id);
    switch (dm::judge_stale_server(s, live)) {
      case dm::StaleVerdict::destroy:
        try {
          done.push_back((ioreq::destroy_stale_ioreq_server(domid, s.id) ? "destroyed ioreq server "
                                                                         : "ioreq server already gone: ") +
                         id);
        } catch (const std::exception& e) {
          done.push_back("ioreq server " + id + " left (" + e.what() + "): the next device model retries");
          continue;  // the record stays for the next device model
        }
        break;
      case dm::StaleVerdict::domain_gone:
      case dm::StaleVerdict::other_instance:
        break;  // its servers went with its domain
      case dm::StaleVerdict::unverifiable:
        done.push_back("ioreq server " + id + " left alone: its record names no domain instance");
        break;
    }
    dm::discard_record(s);
  }
  return done;
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
  const std::string dom = "domain " + std::to_string(domain->value);
  StopResult r;
  try {
    r = stop_dm(g.run_dir, *domain, g.timeout());
  } catch (const Error& e) {
    throw CtlError(kExitDmFailed, e.what());
  }
  if (r.outcome == StopOutcome::not_running)
    throw CtlError(kExitNotRunning, "no device model is running for " + dom);
  if (r.outcome == StopOutcome::shut_down) {
    print(g, json{{"domain", domain->value}, {"stopped", true}}, [] {});
    return;
  }
  // It ignored the shutdown command: stopped, but not in order. Say so, and clean up after it.
  const bool killed = r.outcome == StopOutcome::killed;
  std::string msg = "device model of " + dom + " (pid " + std::to_string(r.pid) +
                    ") did not shut down when asked; " +
                    (killed ? "killed it (SIGKILL)" : "terminated it (SIGTERM)");
  if (killed) {
    for (const auto& line : remove_left_ioreq_servers(*domain)) msg += "; " + line;
  }
  throw CtlError(kExitDmFailed, msg);
}

int cmd_status(const Globals& g, long domain_arg, bool wait) {
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
  std::string silent;  // device models that hold their pidfile but do not answer
  for (auto& st : dm_statuses(g)) {
    if (domain && st.value("domid", 0) != domain->value) continue;
    if (st.value("state", std::string()) == kNotResponding) {
      silent += (silent.empty() ? "" : "; ") + std::string("device model of domain ") + str(st, "domid") +
                " (pid " + str(st, "pid") + ") is not responding: " + str(st, "error");
    }
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
  if (!silent.empty()) {
    std::cerr << "xvgpuctl: " << silent << '\n';
    return kExitNotRunning;
  }
  return kExitOk;
}

}  // namespace

void add_stop_status_verbs(CLI::App& app, const Globals& g) {
  auto sa = std::make_shared<StopArgs>();
  auto* stop = app.add_subcommand("stop", "Stop the device model of a domain, or remove one vGPU from it");
  stop->add_option("uuid", sa->uuid, "vGPU UUID");
  auto* stop_domain_opt = stop->add_option("--domain,-d", sa->domain, "Guest domain ID");
  stop->add_option("--vm", sa->vm, "The VM (UUID or name): the device model of its running domain")
      ->excludes(stop_domain_opt);
  stop->callback([&g, sa] { cmd_stop(g, domain_or_vm(sa->domain, sa->vm), sa->uuid); });

  auto st = std::make_shared<StatusArgs>();
  auto* status = app.add_subcommand("status", "Show running device models and their vGPUs");
  auto* status_domain_opt = status->add_option("--domain,-d", st->domain, "Only this domain");
  status->add_option("--vm", st->vm, "Only the running domain of this VM (UUID or name)")
      ->excludes(status_domain_opt);
  status->add_flag("--wait", st->wait, "Wait (up to --timeout) until the domain's device model is ready");
  status->callback([&g, st] {
    if (const int code = cmd_status(g, domain_or_vm(st->domain, st->vm), st->wait); code != kExitOk)
      throw CLI::RuntimeError(code);
  });
}

}  // namespace xvgpu::ctl
