// What every xvgpuctl verb shares: the global options, the error that carries an exit code,
// argument parsing, calls to device models and the output helpers (JSON or a table).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/types.h"
#include "control/vm_ref.h"
#include "ioreq/domain_identity.h"

namespace xvgpu::ctl {

// A failure with the exit code it maps to.
class CtlError : public Error {
 public:
  CtlError(int code, const std::string& what) : Error(what), code_(code) {}
  [[nodiscard]] int code() const { return code_; }

 private:
  int code_;
};

// The value of environment variable `name`, or `fallback` when unset or empty.
std::string env_or(const char* name, const char* fallback);

struct Globals {
  bool json_out = false;
  std::string config_dir = env_or("XVGPU_CONFIG_DIR", "/etc/xvgpu");
  std::string run_dir = env_or("XVGPU_RUN_DIR", "/run/xvgpu");
  std::string dm_path;
  std::vector<std::string> plugins;
  double timeout_s = 10.0;
  [[nodiscard]] std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  }
};

// Operator arguments, checked: throw CtlError(kExitUsage) naming the bad value.
std::string uuid_arg(const std::string& text);
std::optional<Domid> domid_arg(long d);
VmRef vm_arg(const std::string& text);

void warn(const std::string& msg);

// The VM of a running domain as xvgpu-dm reports it, or a VmRef's own part when not running.
nlohmann::json vm_json(const std::string& uuid, const std::string& name);
// The live (not dying) domain of a VM. Throws CtlError: not running (exit 4), or ambiguous.
ioreq::DomainIdentity running_domain_of(const VmRef& vm);

// One control request to a device model; its failures as CtlError with the matching exit code.
nlohmann::json call_dm(const std::string& socket, const nlohmann::json& request,
                       std::chrono::milliseconds timeout);
// Status of every live device model in the run directory.
std::vector<nlohmann::json> live_dms(const Globals& g);
// The state of a device model whose process holds its pidfile but does not answer.
inline constexpr const char* kNotResponding = "not responding";
// live_dms, plus {"domid", "pid", "state": kNotResponding, "error"} for each that does not answer.
std::vector<nlohmann::json> dm_statuses(const Globals& g);
// The control socket of the device model serving `uuid`.
std::string socket_serving(const Globals& g, const std::string& uuid);
std::string socket_of_domain(const Globals& g, Domid d);

// A vGPU a device model serves: its domain, its status there and the device model's socket.
struct RunningVgpu {
  int domid = 0;
  nlohmann::json status;
  std::string socket;
};
std::optional<RunningVgpu> running_vgpu(const Globals& g, const std::string& uuid);

// The same vGPU type, named with or without its vendor ("simgpu/simgpu-64", "simgpu-64").
bool same_type(const std::string& a, const std::string& b);

// j[key] when present, else an empty array / object (no temporaries in range-for loops).
const nlohmann::json& arr(const nlohmann::json& j, const char* key);
const nlohmann::json& obj(const nlohmann::json& j, const char* key);
// j[key] as text, `fallback` when absent or null.
std::string str(const nlohmann::json& j, const char* key, const std::string& fallback = "-");
// "name (uuid)", or whichever of the two is known, or "-".
std::string vm_label(const nlohmann::json& row);
// `j` as JSON with --json, else what `human` prints.
void print(const Globals& g, const nlohmann::json& j, const std::function<void()>& human);

}  // namespace xvgpu::ctl
