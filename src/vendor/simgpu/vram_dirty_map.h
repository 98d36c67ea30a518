// VRAM the device itself writes (engine jobs, a mode set's clear). The guest's own framebuffer
// writes reach the hypervisor's dirty log through its mapping; these do not, so the device
// reports each range to the core (display damage for the console, the dirty log for live
// migration) through the observer.
#pragma once

#include <cstdint>
#include <functional>

namespace xvgpu::simgpu {

class VramDirtyMap {
 public:
  // Called for each mark(). Set once, before any writer runs.
  void set_observer(std::function<void(uint64_t offset, uint64_t length)> observer) {
    observer_ = std::move(observer);
  }

  // Thread-safe when the observer is.
  void mark(uint64_t offset, uint64_t length) const {
    if (length != 0 && observer_) observer_(offset, length);
  }

 private:
  std::function<void(uint64_t, uint64_t)> observer_;
};

}  // namespace xvgpu::simgpu
