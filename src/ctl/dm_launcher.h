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
#include "common/unique_fd.h"
#include "control/vgpu_spec.h"

namespace xvgpu::ctl {

struct RunPaths {
  std::string socket;
  std::string pidfile;
  std::string log;  // a symbolic link to the log of the domain's latest run (run_log_dir)
  static RunPaths of(const std::string& run_dir, Domid domid);
};

// Each run of a device model logs to a file of its own in RUN_DIR/log, named by its VM and its start (UTC):
// VM.YYYYMMDDTHHMMSSZ.log; the newest kKeptRunLogs of a VM are kept. xvgpu-dm keeps each within its
// --log-max-size.
inline constexpr std::size_t kKeptRunLogs = 5;
std::string run_log_dir(const std::string& run_dir);
// The part of a run log's name that names its VM: the VM's name, else its UUID, else domain-N; characters
// other than letters, digits, '.', '_' and '-' become '_'.
std::string run_log_key(const std::string& vm_name, const std::string& vm_uuid, Domid domid);
// Creates the log of a new run (the name is taken by this call: a second run in the same second gets -2,
// ...), points RunPaths::log at it and removes the VM's run logs beyond the newest kKeptRunLogs. Returns the
// path and the descriptor, opened for appending. Throws Error.
struct RunLog {
  std::string path;
  UniqueFd fd;
};
RunLog open_run_log(const std::string& run_dir, Domid domid, const std::string& key);

struct LaunchRequest {
  std::string dm_path;  // the xvgpu-dm binary
  Domid domid{};
  std::vector<VgpuSpec> vgpus;
  std::vector<std::string> vendor_plugins;
  std::vector<std::string> extra_args;  // passed to xvgpu-dm verbatim (after ours)
  std::string run_dir;
  std::string log_key;  // run_log_key() of the domain's VM
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

struct Launched {
  pid_t pid = 0;
  std::string log;  // this run's log
};
// Starts xvgpu-dm detached (own session, stdout/stderr to this run's log, open_run_log) and returns
// once it answers on its control socket. Throws LaunchError (the process is gone then).
Launched launch_dm(const LaunchRequest& r);
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
