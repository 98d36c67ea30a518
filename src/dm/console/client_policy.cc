#include "dm/console/client_policy.h"

#include <algorithm>

namespace xvgpu::dm {

const char* to_string(ClientVerdict v) {
  switch (v) {
    case ClientVerdict::Keep:
      return "keep";
    case ClientVerdict::DropSlowHandshake:
      return "handshake not finished in time";
    case ClientVerdict::DropByteFlood:
      return "sends too many bytes";
    case ClientVerdict::DropRequestFlood:
      return "sends too many update requests";
  }
  return "?";
}

ClientPolicy::ClientPolicy(const ClientLimits& limits, Clock::time_point connected)
    : limits_(limits), connected_(connected), window_start_(connected) {}

ClientVerdict ClientPolicy::observe(Clock::time_point now, bool handshake_done, uint64_t bytes_received,
                                    uint64_t update_requests) {
  if (!handshake_done && now - connected_ > limits_.handshake_timeout)
    return ClientVerdict::DropSlowHandshake;
  // Rates over windows of at least one second, so a burst within one frame is not punished.
  const auto elapsed = now - window_start_;
  if (elapsed < std::chrono::seconds(1)) return ClientVerdict::Keep;
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const uint64_t bytes = bytes_received - std::min(bytes_received, window_bytes_);
  const uint64_t requests = update_requests - std::min(update_requests, window_requests_);
  window_start_ = now;
  window_bytes_ = std::max(window_bytes_, bytes_received);
  window_requests_ = std::max(window_requests_, update_requests);
  if (static_cast<double>(bytes) > static_cast<double>(limits_.max_bytes_per_second) * seconds) {
    return ClientVerdict::DropByteFlood;
  }
  if (static_cast<double>(requests) > static_cast<double>(limits_.max_update_requests_per_second) * seconds) {
    return ClientVerdict::DropRequestFlood;
  }
  return ClientVerdict::Keep;
}

}  // namespace xvgpu::dm
