// Starting and stopping the device model of a domain from xvgpuctl (and through it from the xl
// wrapper, the PVH launcher and the systemd unit): where its socket, pidfile and log live, how
// readiness is awaited, and the orderly-then-forceful stop.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/types.h"
#include "control/vgpu_spec.h"

namespace xvgpu::ctl {

struct RunPaths {
  std::string socket;
  std::string pidfile;
  std::string log;
  static RunPaths of(const std::string& run_dir, Domid domid);
};

struct LaunchRequest {
  std::string dm_path;  // the xvgpu-dm binary
  Domid domid{};
  std::vector<VgpuSpec> vgpus;
  std::vector<std::string> vendor_plugins;
  std::vector<std::string> extra_args;  // passed to xvgpu-dm verbatim (after ours)
  std::string run_dir;
  std::chrono::milliseconds timeout{10000};
};

// The device model failed to come up: its exit code (or -1 for a timeout) and the last lines of its log.
class LaunchError : public Error {
 public:
  LaunchError(const std::string& what, int exit_code) : Error(what), exit_code_(exit_code) {}
  [[nodiscard]] int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The argument vector xvgpu-dm gets (argv[0] included).
std::vector<std::string> dm_command_line(const LaunchRequest& r);

// Starts xvgpu-dm detached (own session, stdout/stderr appended to the log in run_dir) and returns
// its pid once it answers on its control socket. Throws LaunchError (the process is gone then).
pid_t launch_dm(const LaunchRequest& r);
// Replaces the calling process by xvgpu-dm (for systemd: Type=exec). Returns only on failure.
[[noreturn]] void exec_dm(const LaunchRequest& r);

// How a device model ended under stop_dm.
enum class StopOutcome {
  not_running,  // nothing held the pidfile or answered on the socket
  shut_down,    // it obeyed the shutdown command (or exited by itself meanwhile)
  terminated,   // it ignored the command and exited on SIGTERM
  killed,       // it needed SIGKILL: it removed nothing of its own (socket, pidfile, ioreq server)
};

struct StopResult {
  StopOutcome outcome = StopOutcome::not_running;
  int pid = 0;  // the process stopped (0 when unknown)
};

// Asks the device model of domid to shut down and waits for it to exit; escalates to SIGTERM and
// then SIGKILL after `timeout` each. After a signal, the socket and pidfile it left are removed.
StopResult stop_dm(const std::string& run_dir, Domid domid, std::chrono::milliseconds timeout);

struct RunningDm {
  Domid domid{};
  std::string socket;
};
// Device models with a control socket in run_dir (live or stale).
std::vector<RunningDm> list_dm_sockets(const std::string& run_dir);

// The xvgpu-dm binary: $XVGPU_DM, else next to this program, else "xvgpu-dm" from PATH.
std::string default_dm_path(const char* argv0);

}  // namespace xvgpu::ctl
