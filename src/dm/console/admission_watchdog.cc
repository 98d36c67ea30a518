#include "dm/console/admission_watchdog.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>

namespace xvgpu::dm {

AdmissionWatchdog::AdmissionWatchdog(std::chrono::milliseconds stall) : stall_(stall) {
  thread_ = std::thread([this] { run(); });
}

AdmissionWatchdog::~AdmissionWatchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void AdmissionWatchdog::begin(int fd) {
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  {
    std::lock_guard lock(mu_);
    watched_ = std::move(dup);  // none when dup failed: that admission goes unwatched
    ++admission_;
  }
  cv_.notify_all();
}

void AdmissionWatchdog::end() {
  UniqueFd done;
  {
    std::lock_guard lock(mu_);
    done = std::move(watched_);
    ++admission_;
  }
  cv_.notify_all();
}

uint64_t AdmissionWatchdog::unstuck() const {
  std::lock_guard lock(mu_);
  return unstuck_;
}

void AdmissionWatchdog::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || watched_; });
    if (stopping_) return;
    const uint64_t watching = admission_;
    if (cv_.wait_for(lock, stall_, [&] { return stopping_ || admission_ != watching; })) continue;
    std::array<char, 256> sink{};
    bool consumed = false;
    while (::recv(watched_.get(), sink.data(), sink.size(), MSG_DONTWAIT) > 0) consumed = true;
    if (consumed) ++unstuck_;
  }
}

}  // namespace xvgpu::dm
