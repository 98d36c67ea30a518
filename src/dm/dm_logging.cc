#include "dm/dm_logging.h"

#include <syslog.h>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "common/error.h"

namespace xvgpu::dm {

void setup_logging(const std::string& level, const std::optional<std::string>& file, bool syslog, int domid) {
  const std::string name = "xvgpu-dm-" + std::to_string(domid);
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (file) {
      logger = spdlog::basic_logger_mt(name, *file, false);
    } else if (syslog) {
      logger = spdlog::syslog_logger_mt(name, "xvgpu-dm", LOG_PID, LOG_DAEMON, true);
    } else {
      logger = spdlog::stderr_logger_mt(name);
    }
  } catch (const spdlog::spdlog_ex& e) {
    throw Error("opening the log: " + std::string(e.what()));
  }
  logger->set_pattern(syslog ? "domain " + std::to_string(domid) + ": %v"
                             : "%Y-%m-%d %H:%M:%S.%e xvgpu-dm[%P] dom" + std::to_string(domid) + " %l: %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace xvgpu::dm
