#include "vendor/simgpu/engine_arbiter.h"

namespace xvgpu::simgpu {

void EngineArbiter::add(Id id, uint32_t weight, EnginePriority priority) {
  std::lock_guard lock(mu_);
  policy_.add(id, weight, priority);
}

void EngineArbiter::remove(Id id) {
  std::lock_guard lock(mu_);
  policy_.remove(id);
  waiting_.erase(id);
  if (granted_ == id) {
    granted_.reset();
    grant_next_locked();
  }
}

void EngineArbiter::set_weight(Id id, uint32_t weight) {
  std::lock_guard lock(mu_);
  policy_.set_weight(id, weight);
}

void EngineArbiter::set_priority(Id id, EnginePriority priority) {
  std::lock_guard lock(mu_);
  policy_.set_priority(id, priority);
}

void EngineArbiter::grant_next_locked() {
  if (holder_ || granted_) return;
  granted_ = policy_.pick();
  if (granted_) cv_.notify_all();
}

void EngineArbiter::acquire(Id id) {
  std::unique_lock lock(mu_);
  waiting_.insert(id);
  policy_.set_runnable(id, true);
  grant_next_locked();
  cv_.wait(lock, [&] { return granted_ == id; });
  granted_.reset();
  waiting_.erase(id);
  holder_ = id;
}

void EngineArbiter::release(Id id, uint64_t cost, bool more) {
  std::lock_guard lock(mu_);
  policy_.charge(id, cost);
  if (holder_ == id) holder_.reset();
  // A holder coming straight back stays runnable; otherwise only the waiters contend.
  policy_.set_runnable(id, more || waiting_.contains(id));
  grant_next_locked();
}

void EngineArbiter::withdraw(Id id) {
  std::lock_guard lock(mu_);
  if (waiting_.contains(id)) return;
  policy_.set_runnable(id, false);
  if (granted_ == id) {
    granted_.reset();
    grant_next_locked();
  }
}

}  // namespace xvgpu::simgpu
