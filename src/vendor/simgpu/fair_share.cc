#include "vendor/simgpu/fair_share.h"

#include <algorithm>

namespace xvgpu::simgpu {

namespace {
size_t class_of(const FairShareEntry& e) {
  return e.priority == static_cast<uint8_t>(EnginePriority::Background) ? 1 : 0;
}
}  // namespace

FairShareEntry* FairShare::entry(Id id) const {
  if (id >= entries_.size() || entries_[id].in_use == 0) return nullptr;
  return &entries_[id];
}

void FairShare::catch_up(FairShareEntry& e) const {
  e.vtime = std::max(e.vtime, clock_.class_vtime[class_of(e)]);
}

void FairShare::add(Id id, uint32_t weight, EnginePriority priority) {
  if (id >= entries_.size()) return;
  FairShareEntry& e = entries_[id];
  e = FairShareEntry{};
  e.weight = std::clamp(weight, kMinWeight, kMaxWeight);
  e.priority = static_cast<uint8_t>(priority);
  e.in_use = 1;
  catch_up(e);
}

void FairShare::remove(Id id) {
  if (id < entries_.size()) entries_[id] = FairShareEntry{};
}

void FairShare::set_weight(Id id, uint32_t weight) {
  if (auto* e = entry(id)) e->weight = std::clamp(weight, kMinWeight, kMaxWeight);
}

void FairShare::set_priority(Id id, EnginePriority priority) {
  auto* e = entry(id);
  if (e == nullptr || e->priority == static_cast<uint8_t>(priority)) return;
  // Keep its place relative to its class, not its absolute virtual time: the classes' clocks
  // run at different speeds, and a vGPU that ran alone in one class must not be stalled (or
  // favoured) in the other.
  const double lead = std::max(0.0, e->vtime - clock_.class_vtime[class_of(*e)]);
  e->priority = static_cast<uint8_t>(priority);
  e->vtime = clock_.class_vtime[class_of(*e)] + lead;
}

void FairShare::set_runnable(Id id, bool runnable) {
  auto* e = entry(id);
  if (e == nullptr || (e->runnable != 0) == runnable) return;
  if (runnable) catch_up(*e);  // no credit for time spent idle
  e->runnable = runnable ? 1 : 0;
}

bool FairShare::runnable(Id id) const {
  const auto* e = entry(id);
  return e != nullptr && e->runnable != 0;
}

bool FairShare::any_runnable() const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [](const FairShareEntry& e) { return e.in_use != 0 && e.runnable != 0; });
}

std::optional<FairShare::Id> FairShare::pick() {
  std::optional<Id> best[2];
  double best_vtime[2] = {0, 0};
  for (Id id = 0; id < entries_.size(); ++id) {
    const FairShareEntry& e = entries_[id];
    if (e.in_use == 0 || e.runnable == 0) continue;
    const size_t cls = class_of(e);
    if (!best[cls] || e.vtime < best_vtime[cls]) {
      best[cls] = id;
      best_vtime[cls] = e.vtime;
    }
  }
  if (!best[0] && !best[1]) return std::nullopt;
  // Background goes when foreground is idle, or every kBackgroundTurnEvery-th contested turn.
  const bool background_turn = !best[0] || (best[1] && ++clock_.background_skipped >= kBackgroundTurnEvery);
  const size_t cls = background_turn ? 1 : 0;
  if (cls == 1) clock_.background_skipped = 0;
  clock_.class_vtime[cls] = std::max(clock_.class_vtime[cls], best_vtime[cls]);
  return best[cls];
}

void FairShare::charge(Id id, uint64_t cost) {
  if (auto* e = entry(id)) e->vtime += static_cast<double>(cost) / e->weight;
}

}  // namespace xvgpu::simgpu
