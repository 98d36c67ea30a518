// What the console tolerates from one VNC client, judged from what libvncserver counted for it:
// a client must finish the handshake (and authentication) within a deadline, and may not send
// more than a bounded number of bytes or framebuffer-update requests per second (a viewer sends
// a few requests per frame; a flood of non-incremental ones would make the server encode full
// frames without end). A client judged Drop is disconnected; the others and the guest go on.
#pragma once

#include <chrono>
#include <cstdint>

namespace xvgpu::dm {

struct ClientLimits {
  std::chrono::milliseconds handshake_timeout{10000};
  uint64_t max_bytes_per_second = 1u << 20;
  uint64_t max_update_requests_per_second = 600;
};

enum class ClientVerdict : uint8_t { Keep, DropSlowHandshake, DropByteFlood, DropRequestFlood };

const char* to_string(ClientVerdict v);

class ClientPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  ClientPolicy(const ClientLimits& limits, Clock::time_point connected);

  // One observation: totals so far (they only grow; a smaller value is taken as no change).
  ClientVerdict observe(Clock::time_point now, bool handshake_done, uint64_t bytes_received,
                        uint64_t update_requests);

 private:
  ClientLimits limits_;
  Clock::time_point connected_;
  Clock::time_point window_start_;
  uint64_t window_bytes_ = 0;  // totals at the window's start
  uint64_t window_requests_ = 0;
};

}  // namespace xvgpu::dm
