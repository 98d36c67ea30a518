// xvgpuctl stats, get, set, screenshot, console, hot-add, hot-remove: what an operator asks of,
// or changes in, a running vGPU through its device model's control socket.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "control/control_protocol.h"
#include "control/vgpu_spec.h"
#include "ctl/definition_store.h"
#include "ctl/exit_codes.h"
#include "ctl/table.h"
#include "ctl/types_query.h"
#include "ctl/verbs.h"

namespace xvgpu::ctl {

using nlohmann::json;

namespace {

struct StatsArgs {
  std::string uuid;
  long domain = -1;
};

// get and set: a knob of a running vGPU.
struct KnobArgs {
  std::string uuid;
  std::string knob;
  std::string value;
  bool persist = false;  // set: also store the value in the vGPU's definition
};

struct ScreenshotArgs {
  std::string uuid;
  std::string file;
};

struct HotAddArgs {
  long domain = -1;
  std::string spec;
};

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
             const std::string& value, bool persist) {
  const std::string uuid = uuid_arg(uuid_text);
  DefinitionStore store(g.config_dir);
  std::optional<Definition> updated;
  if (persist) {
    // Checked before the running vGPU changes: a value the definition cannot keep changes nothing.
    updated = store.find(uuid);
    if (!updated) {
      throw CtlError(
          kExitNotFound,
          "vGPU " + uuid +
              " is not defined: nothing to --persist (without it, set changes the running vGPU only)");
    }
    auto& knobs = updated->spec.knobs;
    const auto it = std::find_if(knobs.begin(), knobs.end(), [&](const auto& k) { return k.first == knob; });
    if (it == knobs.end()) {
      knobs.emplace_back(knob, value);
    } else {
      it->second = value;
    }
    try {
      check_spec_against_vendors(updated->spec, g.plugins);
    } catch (const Error& e) {
      throw CtlError(kExitUsage, "--persist: " + std::string(e.what()));
    }
  }
  const json r =
      call_dm(socket_serving(g, uuid),
              {{"cmd", std::string(control::kKnobSet)}, {"uuid", uuid}, {"name", knob}, {"value", value}},
              g.timeout());
  if (updated) store.define(*updated, true);
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

}  // namespace

void add_running_vgpu_verbs(CLI::App& app, const Globals& g) {
  auto sa = std::make_shared<StatsArgs>();
  auto* stats = app.add_subcommand("stats", "Show statistics of a vGPU or of a domain's device model");
  stats->add_option("uuid", sa->uuid, "vGPU UUID");
  stats->add_option("--domain,-d", sa->domain, "Guest domain ID");
  stats->callback([&g, sa] { cmd_stats(g, sa->uuid, sa->domain); });

  auto ga = std::make_shared<KnobArgs>();
  auto* get = app.add_subcommand("get", "Read vendor knobs of a running vGPU");
  get->add_option("uuid", ga->uuid, "vGPU UUID")->required();
  get->add_option("knob", ga->knob, "Knob name (default: all)");
  get->callback([&g, ga] { cmd_get(g, ga->uuid, ga->knob); });

  auto ka = std::make_shared<KnobArgs>();
  auto* set = app.add_subcommand("set", "Write a vendor knob of a running vGPU");
  set->add_option("uuid", ka->uuid, "vGPU UUID")->required();
  set->add_option("knob", ka->knob, "Knob name")->required();
  set->add_option("value", ka->value, "New value")->required();
  set->add_flag("--persist", ka->persist, "Also store the value in the vGPU's definition");
  set->callback([&g, ka] { cmd_set(g, ka->uuid, ka->knob, ka->value, ka->persist); });

  auto shot_args = std::make_shared<ScreenshotArgs>();
  auto* shot = app.add_subcommand("screenshot", "Save the display of a running vGPU as PNG");
  shot->add_option("uuid", shot_args->uuid, "vGPU UUID")->required();
  shot->add_option("file", shot_args->file, "Output .png file")->required();
  shot->callback([&g, shot_args] { cmd_screenshot(g, shot_args->uuid, shot_args->file); });

  auto console_uuid = std::make_shared<std::string>();
  auto* console = app.add_subcommand("console", "Print where a running vGPU's VNC console listens");
  console->add_option("uuid", *console_uuid, "vGPU UUID")->required();
  console->callback([&g, console_uuid] { cmd_console(g, *console_uuid); });

  auto ha = std::make_shared<HotAddArgs>();
  auto* hot_add = app.add_subcommand("hot-add", "Add a vGPU to a running domain's device model");
  hot_add->add_option("--domain,-d", ha->domain, "Guest domain ID")->required();
  hot_add->add_option("vgpu", ha->spec, "uuid=U,type=T[,bdf=BB:DD.F][,knob=value...]")->required();
  hot_add->callback([&g, ha] { cmd_hot_add(g, ha->domain, ha->spec); });

  auto hr_uuid = std::make_shared<std::string>();
  auto* hot_remove = app.add_subcommand("hot-remove", "Remove a vGPU from its running device model");
  hot_remove->add_option("uuid", *hr_uuid, "vGPU UUID")->required();
  hot_remove->callback([&g, hr_uuid] { cmd_hot_remove(g, *hr_uuid); });
}

}  // namespace xvgpu::ctl
