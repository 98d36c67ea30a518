#include "vendor/simgpu/fair_share.h"

#include <algorithm>

namespace xvgpu::simgpu {

void FairShare::catch_up(Entry& e) const {
  e.vtime = std::max(e.vtime, class_vtime_[static_cast<size_t>(e.priority)]);
}

void FairShare::add(Id id, uint32_t weight, EnginePriority priority) {
  Entry e;
  e.weight = std::clamp(weight, kMinWeight, kMaxWeight);
  e.priority = priority;
  catch_up(e);
  entries_[id] = e;
}

void FairShare::remove(Id id) {
  entries_.erase(id);
}

void FairShare::set_weight(Id id, uint32_t weight) {
  if (auto it = entries_.find(id); it != entries_.end())
    it->second.weight = std::clamp(weight, kMinWeight, kMaxWeight);
}

void FairShare::set_priority(Id id, EnginePriority priority) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.priority == priority) return;
  it->second.priority = priority;
  catch_up(it->second);
}

void FairShare::set_runnable(Id id, bool runnable) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.runnable == runnable) return;
  if (runnable) catch_up(it->second);  // no credit for time spent idle
  it->second.runnable = runnable;
}

bool FairShare::runnable(Id id) const {
  auto it = entries_.find(id);
  return it != entries_.end() && it->second.runnable;
}

bool FairShare::any_runnable() const {
  return std::any_of(entries_.begin(), entries_.end(), [](const auto& kv) { return kv.second.runnable; });
}

std::optional<FairShare::Id> FairShare::pick() {
  std::optional<Id> best[2];
  double best_vtime[2] = {0, 0};
  for (const auto& [id, e] : entries_) {
    if (!e.runnable) continue;
    const auto cls = static_cast<size_t>(e.priority);
    if (!best[cls] || e.vtime < best_vtime[cls]) {
      best[cls] = id;
      best_vtime[cls] = e.vtime;
    }
  }
  if (!best[0] && !best[1]) return std::nullopt;
  // Background goes when foreground is idle, or every kBackgroundTurnEvery-th contested turn.
  const bool background_turn = !best[0] || (best[1] && ++background_skipped_ >= kBackgroundTurnEvery);
  const size_t cls = background_turn ? 1 : 0;
  if (cls == 1) background_skipped_ = 0;
  class_vtime_[cls] = std::max(class_vtime_[cls], best_vtime[cls]);
  return best[cls];
}

void FairShare::charge(Id id, uint64_t cost) {
  if (auto it = entries_.find(id); it != entries_.end()) {
    it->second.vtime += static_cast<double>(cost) / it->second.weight;
  }
}

}  // namespace xvgpu::simgpu
