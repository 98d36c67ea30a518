#include "vendor/simgpu/fair_share.h"

#include <algorithm>
#include <limits>

namespace xvgpu::simgpu {

void FairShare::add(Id id, uint32_t weight, EnginePriority priority) {
  Entry e;
  e.weight = std::clamp(weight, kMinWeight, kMaxWeight);
  e.priority = priority;
  const double start = min_runnable_vtime();
  e.vtime = start == std::numeric_limits<double>::infinity() ? 0 : start;
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
  if (auto it = entries_.find(id); it != entries_.end()) it->second.priority = priority;
}

double FairShare::min_runnable_vtime() const {
  double m = std::numeric_limits<double>::infinity();
  for (const auto& [id, e] : entries_) {
    if (e.runnable) m = std::min(m, e.vtime);
  }
  return m;
}

void FairShare::set_runnable(Id id, bool runnable) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.runnable == runnable) return;
  if (runnable) {
    // Waking from idle: no credit for the time spent idle.
    const double now = min_runnable_vtime();
    if (now != std::numeric_limits<double>::infinity()) it->second.vtime = std::max(it->second.vtime, now);
  }
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
  if (!best[1]) return best[0];
  if (!best[0]) {
    background_skipped_ = 0;
    return best[1];
  }
  if (++background_skipped_ >= kBackgroundTurnEvery) {
    background_skipped_ = 0;
    return best[1];
  }
  return best[0];
}

void FairShare::charge(Id id, uint64_t cost) {
  if (auto it = entries_.find(id); it != entries_.end()) {
    it->second.vtime += static_cast<double>(cost) / it->second.weight;
  }
}

}  // namespace xvgpu::simgpu
