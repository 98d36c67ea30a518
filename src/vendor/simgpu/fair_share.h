// The engine scheduling policy of one physical simgpu: weighted fair queuing between the
// vGPUs that share its engine, with two priority classes.
//
// Each vGPU has a virtual time that advances by cost / weight whenever it is charged for
// engine work; the runnable vGPU with the smallest virtual time goes next, so over any busy
// period the engine's work divides in proportion to the weights. A vGPU that wakes up from
// idle starts at the current minimum, so idling earns no credit. Foreground vGPUs go before
// background ones; a background vGPU still gets one turn in kBackgroundTurnEvery while both
// classes have work, so it is never starved.
//
// The policy keeps no state of its own: it works on a table of plain entries and a clock that
// the caller owns, so the same code schedules vGPUs of one process (a private table) and of
// every process on the host (the table in EngineArbiter's shared file).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace xvgpu::simgpu {

enum class EnginePriority : uint8_t { Foreground = 0, Background = 1 };

// One contender. Plain data: it lives in memory shared between processes.
struct FairShareEntry {
  double vtime;
  uint32_t weight;
  uint8_t priority;  // EnginePriority
  uint8_t runnable;
  uint8_t in_use;
  uint8_t reserved;
};

// The policy's clock: the virtual time of each class's last turn.
struct FairShareClock {
  double class_vtime[2];
  uint32_t background_skipped;
  uint32_t reserved;
};

class FairShare {
 public:
  using Id = uint32_t;  // index into the entry table
  static constexpr uint32_t kMinWeight = 1;
  static constexpr uint32_t kMaxWeight = 1000;
  static constexpr unsigned kBackgroundTurnEvery = 16;

  FairShare(FairShareClock& clock, std::span<FairShareEntry> entries) : clock_(clock), entries_(entries) {}

  // Ids out of range or not in use are ignored. weight is clamped to [kMinWeight, kMaxWeight].
  void add(Id id, uint32_t weight, EnginePriority priority);
  void remove(Id id);
  void set_weight(Id id, uint32_t weight);
  void set_priority(Id id, EnginePriority priority);
  void set_runnable(Id id, bool runnable);
  [[nodiscard]] bool runnable(Id id) const;
  [[nodiscard]] bool any_runnable() const;

  // The runnable vGPU that should use the engine next.
  std::optional<Id> pick();
  // Charges engine work (cost units) to id.
  void charge(Id id, uint64_t cost);

 private:
  FairShareEntry* entry(Id id) const;
  void catch_up(FairShareEntry& e) const;

  FairShareClock& clock_;
  std::span<FairShareEntry> entries_;
};

}  // namespace xvgpu::simgpu
