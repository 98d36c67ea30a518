// The device model's end of the control protocol (control_protocol.h): a listening UNIX socket
// served by its own thread. Each request is handed to the handler; the handler decides on which
// thread the work really happens (xvgpu-dm posts it to the ioreq loop).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"

namespace xvgpu::control {

class ControlServer {
 public:
  // Returns the command's result or throws RequestError (any other exception becomes "internal").
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  // Creates the socket at `path` with permissions `mode` (0600: owner only). A stale socket
  // nobody listens on is replaced; a live one is an error (another device model owns it).
  ControlServer(std::string path, mode_t mode, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Starts serving on a background thread.
  void start();
  // Stops serving, closes every connection and removes the socket file.
  void stop();
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  void serve();
  nlohmann::json dispatch(const nlohmann::json& request) const;

  std::string path_;
  Handler handler_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: stop() wakes the serving thread
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  dev_t sock_dev_ = 0;
  ino_t sock_ino_ = 0;
};

}  // namespace xvgpu::control
