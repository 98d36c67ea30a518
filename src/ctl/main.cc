// xvgpuctl: manage vGPUs on a Xen host. This file has the global options, the groups of verbs
// (verbs.h: each adds its own subcommands) and the exit codes of failures. See docs/man/xvgpuctl.1.
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

  // One call a group of verbs (verbs.h); their order is the order of the subcommands in --help.
  add_definition_verbs(app, g);
  add_start_verbs(app, g);
  add_stop_status_verbs(app, g);
  add_running_vgpu_verbs(app, g);
  add_save_restore_verbs(app, g);
  // Runs before the chosen verb's callback: the device model's default where --dm names none.
  app.parse_complete_callback([&g, argv] {
    if (g.dm_path.empty()) g.dm_path = default_dm_path(argv[0]);
  });

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
    app.parse(argc, argv);  // and runs the verb
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a verb's success with another exit code than 0 (verbs.h)
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
