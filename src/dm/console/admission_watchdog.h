// Unsticks libvncserver's admission of a new client. rfbNewClient peeks at a client's first
// 4 bytes to tell WebSocket from RFB, and when the client has sent 1-3 of them and nothing more
// it spins for ever (its peek loop treats a short peek as "try again"): the acceptor stuck, a
// CPU burning, no further client admitted. The watchdog watches each admission; one still
// running after `stall` has the bytes it peeks at consumed (again every `stall`), so
// libvncserver sees a quiet socket or the client's end of stream and returns, and the client,
// its opening now incomplete, fails its handshake.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"

namespace xvgpu::dm {

class AdmissionWatchdog {
 public:
  explicit AdmissionWatchdog(std::chrono::milliseconds stall);
  ~AdmissionWatchdog();
  AdmissionWatchdog(const AdmissionWatchdog&) = delete;
  AdmissionWatchdog& operator=(const AdmissionWatchdog&) = delete;

  // Watches the admission of the client on `fd` until end(). One admission at a time.
  void begin(int fd);
  void end();
  // How many times a stalled admission's pending bytes were consumed.
  [[nodiscard]] uint64_t unstuck() const;

 private:
  void run();

  const std::chrono::milliseconds stall_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  UniqueFd watched_;  // a duplicate: valid even if libvncserver closes its descriptor meanwhile
  uint64_t admission_ = 0;
  uint64_t unstuck_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace xvgpu::dm
