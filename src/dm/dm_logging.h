// spdlog set-up for xvgpu-dm: stderr by default, a file, or syslog.
#pragma once

#include <optional>
#include <string>

namespace xvgpu::dm {

// Replaces the default logger. Throws Error when the log file cannot be opened.
void setup_logging(const std::string& level, const std::optional<std::string>& file, bool syslog, int domid);

}  // namespace xvgpu::dm
