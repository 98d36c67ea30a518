// New console connections held until the client has spoken or a wait has passed, then handed to
// libvncserver. libvncserver tells a WebSocket client (a browser: it speaks first, "GET ...")
// from an RFB viewer (silent until the server's greeting) by peeking at the first bytes for only
// 100 ms; a browser slower than that (a loaded host, a slow network) is taken for an RFB viewer
// and its page never connects. Holding every connection here until bytes arrive or `wait`
// passes gives a browser that long, costs an RFB viewer `wait` once at connection, and keeps
// the acceptor free: the held connections are polled together with the listener.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <vector>

#include "common/unique_fd.h"

namespace xvgpu::dm {

class OpeningWait {
 public:
  using Clock = std::chrono::steady_clock;

  OpeningWait(std::chrono::milliseconds wait, size_t capacity);

  // Holds a new connection; false (and `fd` closed) when `capacity` are already held.
  bool hold(UniqueFd fd, Clock::time_point now);
  // Appends one pollfd per held connection (POLLIN), in hold order, for one poll() call.
  void add_poll_fds(std::vector<pollfd>& fds) const;
  // After that poll: the connections that spoke (revents set in `polled`, which starts with the
  // entries add_poll_fds appended) or whose wait is over, released in hold order.
  std::vector<UniqueFd> take_ready(std::span<const pollfd> polled, Clock::time_point now);
  // Milliseconds until the next wait ends (rounded up), or -1 with nothing held: a poll() timeout.
  [[nodiscard]] int poll_timeout_ms(Clock::time_point now) const;
  [[nodiscard]] size_t held() const { return held_.size(); }

 private:
  struct Held {
    UniqueFd fd;
    Clock::time_point deadline;
  };
  const std::chrono::milliseconds wait_;
  const size_t capacity_;
  std::vector<Held> held_;
};

}  // namespace xvgpu::dm
