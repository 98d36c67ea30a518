#include "dm/console/client_watchdog.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>

namespace xvgpu::dm {

ClientWatchdog::ClientWatchdog(std::chrono::milliseconds stall) : stall_(stall) {
  thread_ = std::thread([this] { run(); });
}

ClientWatchdog::~ClientWatchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ClientWatchdog::begin(int fd) {
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  {
    std::lock_guard lock(mu_);
    watched_ = std::move(dup);  // none when dup failed: that call goes unwatched
    ++call_;
  }
  cv_.notify_all();
}

void ClientWatchdog::end() {
  UniqueFd done;
  {
    std::lock_guard lock(mu_);
    done = std::move(watched_);
    ++call_;
  }
  cv_.notify_all();
}

uint64_t ClientWatchdog::cut() const {
  std::lock_guard lock(mu_);
  return cut_;
}

void ClientWatchdog::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || watched_; });
    if (stopping_) return;
    const uint64_t watching = call_;
    if (cv_.wait_for(lock, stall_, [&] { return stopping_ || call_ != watching; })) continue;
    // Consumed first (a bounded amount: the client may still be sending), so that a peek
    // spinning on a few bytes then sees the end of the stream.
    std::array<char, 4096> sink{};
    for (int i = 0; i < 16 && ::recv(watched_.get(), sink.data(), sink.size(), MSG_DONTWAIT) > 0; ++i) {
    }
    (void)::shutdown(watched_.get(), SHUT_RDWR);
    ++cut_;
    // Once per call: it ends on its own now.
    cv_.wait(lock, [&] { return stopping_ || call_ != watching; });
  }
}

}  // namespace xvgpu::dm
