// The consoles of one device model's vGPUs, by vGPU UUID: opened after a vGPU starts (at start-up
// or hot-add), closed before it is destroyed. Thread-safe (the control server reads it).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "control/vgpu_spec.h"
#include "dm/console/vnc_console.h"

namespace xvgpu::dm {

// The console a spec asks for (default: loopback, free port), its password read from the file
// named. Throws Error naming the problem (unreadable or empty password file).
ConsoleOptions console_options(const VgpuSpec& spec);

class ConsoleSet {
 public:
  // Where the consoles opened from now on send keyboard and pointer events (--input-qmp).
  void set_input(std::shared_ptr<InputSink> input);
  // Opens the console (nothing for vnc=off). Throws naming the vGPU and the address.
  void open(const std::shared_ptr<gpu::Vgpu>& vgpu, const ConsoleOptions& options);
  void close(const std::string& uuid) noexcept;
  void close_all() noexcept;
  // {"vnc": "127.0.0.1:5901" | "unix:/path" | "off", "auth": "vnc" | "none", "input": "qmp" | "none",
  //  "clients": n}
  [[nodiscard]] nlohmann::json describe(const std::string& uuid) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<VncConsole>> consoles_;
  std::shared_ptr<InputSink> input_;
};

}  // namespace xvgpu::dm
