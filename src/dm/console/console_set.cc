#include "dm/console/console_set.h"

#include <spdlog/spdlog.h>

#include <fstream>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

// VNC authentication uses the first 8 bytes (DES key): a longer password is cut there.
constexpr size_t kVncPasswordBytes = 8;

std::string read_password(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("vnc-password-file " + path + ": cannot be read");
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw Error("vnc-password-file " + path + ": the first line (the password) is empty");
  if (line.size() > kVncPasswordBytes) {
    spdlog::warn("vnc-password-file {}: VNC authentication uses only the first {} bytes of the password",
                 path, kVncPasswordBytes);
  }
  return line;
}

}  // namespace

ConsoleOptions console_options(const VgpuSpec& spec) {
  ConsoleOptions o;
  if (spec.vnc) o.address = ConsoleAddress::parse(*spec.vnc);
  if (spec.vnc_password_file) o.password = read_password(*spec.vnc_password_file);
  return o;
}

void ConsoleSet::set_input(std::shared_ptr<InputSink> input) {
  std::lock_guard lock(mu_);
  input_ = std::move(input);
}

void ConsoleSet::open(const std::shared_ptr<gpu::Vgpu>& vgpu, const ConsoleOptions& options) {
  if (options.address.kind == ConsoleAddress::Kind::Off) return;
  ConsoleOptions with_input = options;
  {
    std::lock_guard lock(mu_);
    if (!with_input.input) with_input.input = input_;
  }
  std::unique_ptr<VncConsole> c;
  try {
    c = std::make_unique<VncConsole>(vgpu, with_input);
  } catch (const std::exception& e) {
    throw Error("vGPU " + vgpu->uuid() + ": " + e.what());
  }
  spdlog::info("vGPU {}: VNC console on {}{}", vgpu->uuid(), c->where(),
               c->authenticated() ? " (password)" : "");
  std::lock_guard lock(mu_);
  consoles_[vgpu->uuid()] = std::move(c);
}

void ConsoleSet::close(const std::string& uuid) noexcept {
  std::unique_ptr<VncConsole> c;
  {
    std::lock_guard lock(mu_);
    auto it = consoles_.find(uuid);
    if (it == consoles_.end()) return;
    c = std::move(it->second);
    consoles_.erase(it);
  }
  c.reset();  // outside the lock: waits for its threads
}

void ConsoleSet::close_all() noexcept {
  std::map<std::string, std::unique_ptr<VncConsole>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(consoles_);
  }
  all.clear();
}

nlohmann::json ConsoleSet::describe(const std::string& uuid) const {
  std::lock_guard lock(mu_);
  auto it = consoles_.find(uuid);
  if (it == consoles_.end()) return {{"vnc", "off"}};
  nlohmann::json d = {{"vnc", it->second->where()},
                      {"auth", it->second->authenticated() ? "vnc" : "none"},
                      {"input", it->second->has_input() ? "qmp" : "none"},
                      {"clients", it->second->counters().clients_now}};
  if (it->second->has_input()) d["input_events"] = it->second->input_status();
  return d;
}

}  // namespace xvgpu::dm
