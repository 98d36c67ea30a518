// Logging of guest-triggered events without letting a guest flood the host log:
// at most `burst` messages per `interval`, then one summary of how many were dropped.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>

namespace xvgpu {

class RateLimiter {
 public:
  explicit RateLimiter(unsigned burst = 10, std::chrono::milliseconds interval = std::chrono::seconds(5))
      : burst_(burst), interval_(interval) {}

  // True when the caller may log now. `suppressed` receives how many were dropped since the
  // last permitted message (so the caller can say so).
  bool allow(uint64_t& suppressed) {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= interval_) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ < burst_) {
      ++used_;
      suppressed = dropped_;
      dropped_ = 0;
      return true;
    }
    ++dropped_;
    return false;
  }

 private:
  std::mutex mu_;
  unsigned burst_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point window_start_{};
  unsigned used_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace xvgpu

// XVGPU_LOG_LIMITED(limiter, spdlog::level::warn, "fmt", args...)
#define XVGPU_LOG_LIMITED(limiter, level, ...)                                                               \
  do {                                                                                                       \
    uint64_t xvgpu_suppressed_ = 0;                                                                          \
    if ((limiter).allow(xvgpu_suppressed_)) {                                                                \
      if (xvgpu_suppressed_ != 0) spdlog::log(level, "({} similar messages suppressed)", xvgpu_suppressed_); \
      spdlog::log(level, __VA_ARGS__);                                                                       \
    }                                                                                                        \
  } while (0)
