// Blocks SIGTERM and SIGINT in the calling thread and receives them through a signalfd;
// restores the previous mask on destruction.
#pragma once

#include <signal.h>

#include "common/unique_fd.h"

namespace xvgpu::ioreq {

class SignalGuard {
 public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  sigset_t old_{};
  UniqueFd fd_;
};

}  // namespace xvgpu::ioreq
