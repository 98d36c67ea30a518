// Who uses the engine of one physical simgpu next. Each vGPU's engine work runs on that vGPU's
// own worker thread (the core's worker context); before each descriptor the worker acquires
// the shared engine here, and the arbiter grants it in the order of the FairShare policy
// (weights, foreground/background). One descriptor executes at a time per physical GPU: the
// engine's capacity is shared, not duplicated.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>

#include "vendor/simgpu/fair_share.h"

namespace xvgpu::simgpu {

class EngineArbiter {
 public:
  using Id = FairShare::Id;

  void add(Id id, uint32_t weight, EnginePriority priority);
  // The vGPU must not be inside acquire()/release() (its worker is drained).
  void remove(Id id);
  void set_weight(Id id, uint32_t weight);
  void set_priority(Id id, EnginePriority priority);

  // Blocks until the engine is granted to id.
  void acquire(Id id);
  // Gives the engine back after work of `cost` units. more: the caller will call acquire()
  // again right away (it stays a contender, so its weight counts against the waiters).
  void release(Id id, uint64_t cost, bool more);
  // The caller said `more` but will not come back (its work vanished, or it could not
  // continue): stop contending so the engine goes to someone else.
  void withdraw(Id id);

 private:
  void grant_next_locked();

  std::mutex mu_;
  std::condition_variable cv_;
  FairShare policy_;
  std::set<Id> waiting_;
  std::optional<Id> holder_;
  std::optional<Id> granted_;  // chosen but not yet arrived in acquire()
};

}  // namespace xvgpu::simgpu
