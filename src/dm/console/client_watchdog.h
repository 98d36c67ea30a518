// Bounds how long one libvncserver call on one client (its admission, one of its messages, one
// update to it) may hold the console's serving thread, which every other viewer of that console
// waits for. libvncserver itself does not bound it: its reads wait rfbMaxClientWait for each next
// byte (a client that trickles bytes never times out), its writes wait in 5 s steps that restart
// whenever the client reads a little, and its first look at a new client spins for ever when the
// client sent 1-3 bytes and stopped (it treats a short peek as "try again").
//
// The watchdog watches each call from begin() to end(); one still running after `stall` has the
// client's pending bytes consumed and its socket shut down in both directions, so every read,
// peek and write libvncserver then makes on it ends (end of stream, EPIPE) and it closes the
// client and returns. A TCP socket's blocked write wakes at once; a UNIX socket's only when
// libvncserver's current 5 s wait for it ends.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"

namespace xvgpu::dm {

class ClientWatchdog {
 public:
  explicit ClientWatchdog(std::chrono::milliseconds stall);
  ~ClientWatchdog();
  ClientWatchdog(const ClientWatchdog&) = delete;
  ClientWatchdog& operator=(const ClientWatchdog&) = delete;

  // Watches a call on the client on `fd` until end(). One call at a time.
  void begin(int fd);
  void end();
  // How many calls were cut short.
  [[nodiscard]] uint64_t cut() const;

 private:
  void run();

  const std::chrono::milliseconds stall_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  UniqueFd watched_;  // a duplicate: valid even if libvncserver closes its descriptor meanwhile
  uint64_t call_ = 0;
  uint64_t cut_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace xvgpu::dm
