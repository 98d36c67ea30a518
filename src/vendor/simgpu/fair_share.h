// The engine scheduling policy of one physical simgpu: weighted fair queuing between the
// vGPUs that share its engine, with two priority classes.
//
// Each vGPU has a virtual time that advances by cost / weight whenever it is charged for
// engine work; the runnable vGPU with the smallest virtual time goes next, so over any busy
// period the engine's work divides in proportion to the weights. A vGPU that wakes up from
// idle starts at the current minimum, so idling earns no credit. Foreground vGPUs go before
// background ones; a background vGPU still gets one turn in kBackgroundTurnEvery while both
// classes have work, so it is never starved.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace xvgpu::simgpu {

enum class EnginePriority : uint8_t { Foreground = 0, Background = 1 };

class FairShare {
 public:
  using Id = uint64_t;
  static constexpr uint32_t kMinWeight = 1;
  static constexpr uint32_t kMaxWeight = 1000;
  static constexpr unsigned kBackgroundTurnEvery = 16;

  // weight must be in [kMinWeight, kMaxWeight] (callers validate; out-of-range is clamped).
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
  struct Entry {
    uint32_t weight = 1;
    EnginePriority priority = EnginePriority::Foreground;
    bool runnable = false;
    double vtime = 0;
  };
  void catch_up(Entry& e) const;

  std::map<Id, Entry> entries_;
  double class_vtime_[2] = {0, 0};  // virtual time of each class's last turn
  unsigned background_skipped_ = 0;
};

}  // namespace xvgpu::simgpu
