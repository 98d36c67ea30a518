// The device model's end of the control protocol (control_protocol.h): a listening UNIX socket
// served by its own thread. Each request is handed to the handler; the handler decides on which
// thread the work really happens (xvgpu-dm posts it to the ioreq loop and waits for the result).
//
// One client never holds up another: the thread multiplexes every connection with poll(), reads
// requests as they arrive and writes replies as each socket becomes writable, from a bounded
// per-client output buffer. It never blocks on one client. Clients that do not keep up are
// disconnected (with a rate-limited log line naming the peer's pid and the reason):
//   - a request not completed within kRequestDeadline, or longer than kMaxRequestBytes;
//   - a reply not drained within kReplyDeadline of being queued;
//   - a reply larger than kMaxReplyBacklogPerClient.
// A client's requests are answered one after the other, in order: its next request is read
// only once the previous reply has left the buffer (replies that fit in the socket's own
// buffer leave at once, so pipelining works). While slow clients hold so much reply data that
// one more largest reply would pass kMaxReplyBacklogTotal, new requests wait (at most until
// those clients drain or reach their deadline).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "control/control_protocol.h"

namespace xvgpu::control {

// Connections served at once; more are accepted and closed at once with a log line (a flood
// must not fill the listen backlog). Each is one descriptor under the 1024-file limit.
inline constexpr std::size_t kMaxControlClients = 16;
// Requests are small (the biggest is a hot-add spec).
inline constexpr std::size_t kMaxRequestBytes = std::size_t{1} << 20;
inline constexpr std::chrono::milliseconds kRequestDeadline = std::chrono::seconds(10);
// Replies may be large (a screenshot of simgpu's largest mode, 3840x2160, is up to ~33 MiB in
// base64; a plugin's display may be larger): one client may have one protocol message's worth
// unsent, all clients together twice that.
inline constexpr std::size_t kMaxReplyBacklogPerClient = kMaxMessageBytes;
inline constexpr std::size_t kMaxReplyBacklogTotal = 2 * kMaxMessageBytes;
// The blocking writer's figure: a client reading as fast as it can drains the largest reply
// (47 MiB) well within it, even on a loaded host (parsing it comes after, and does not count).
inline constexpr std::chrono::milliseconds kReplyDeadline = std::chrono::seconds(2);

// The bounds above; tests may shrink them.
struct ControlLimits {
  std::size_t max_clients = kMaxControlClients;
  std::size_t max_request_bytes = kMaxRequestBytes;
  std::chrono::milliseconds request_deadline = kRequestDeadline;
  std::size_t max_reply_backlog_per_client = kMaxReplyBacklogPerClient;
  std::size_t max_reply_backlog_total = kMaxReplyBacklogTotal;
  std::chrono::milliseconds reply_deadline = kReplyDeadline;
};

class ControlServer {
 public:
  // Returns the command's result or throws RequestError (any other exception becomes "internal").
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  // Creates the socket at `path` with permissions `mode` (0600: owner only). A stale socket
  // nobody listens on is replaced; a live one is an error (another device model owns it).
  ControlServer(std::string path, mode_t mode, Handler handler, ControlLimits limits = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Starts serving on a background thread.
  void start();
  // Stops serving, closes every connection and removes the socket file.
  void stop();
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  class Connection;
  void serve();
  nlohmann::json dispatch(const nlohmann::json& request) const;

  std::string path_;
  Handler handler_;
  ControlLimits limits_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: stop() wakes the serving thread
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  dev_t sock_dev_ = 0;
  ino_t sock_ino_ = 0;
};

}  // namespace xvgpu::control
