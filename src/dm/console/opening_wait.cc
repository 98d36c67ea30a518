#include "dm/console/opening_wait.h"

#include <algorithm>

namespace xvgpu::dm {

OpeningWait::OpeningWait(std::chrono::milliseconds wait, size_t capacity)
    : wait_(wait), capacity_(capacity) {}

bool OpeningWait::hold(UniqueFd fd, Clock::time_point now) {
  if (held_.size() >= capacity_) return false;
  held_.push_back({std::move(fd), now + wait_});
  return true;
}

void OpeningWait::add_poll_fds(std::vector<pollfd>& fds) const {
  for (const Held& h : held_) fds.push_back({h.fd.get(), POLLIN, 0});
}

std::vector<UniqueFd> OpeningWait::take_ready(std::span<const pollfd> polled, Clock::time_point now) {
  std::vector<UniqueFd> ready;
  std::vector<Held> still;
  for (size_t i = 0; i < held_.size(); ++i) {
    const bool spoke = i < polled.size() && polled[i].fd == held_[i].fd.get() && polled[i].revents != 0;
    if (spoke || now >= held_[i].deadline) {
      ready.push_back(std::move(held_[i].fd));
    } else {
      still.push_back(std::move(held_[i]));
    }
  }
  held_ = std::move(still);
  return ready;
}

int OpeningWait::poll_timeout_ms(Clock::time_point now) const {
  if (held_.empty()) return -1;
  const auto next = std::min_element(held_.begin(), held_.end(), [](const Held& a, const Held& b) {
                      return a.deadline < b.deadline;
                    })->deadline;
  if (next <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<int64_t>(ms, 60'000));
}

}  // namespace xvgpu::dm
