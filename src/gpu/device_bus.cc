#include "gpu/device_bus.h"

#include <fmt/format.h>

#include <mutex>

#include "gpu/vgpu.h"

namespace xvgpu::gpu {

void DeviceBus::attach(Sbdf sbdf, std::shared_ptr<Vgpu> vgpu) {
  std::unique_lock lock(mu_);
  if (!functions_.emplace(sbdf, std::move(vgpu)).second) {
    throw Error(fmt::format("PCI slot {} of domain {} is already used by another vGPU", sbdf.to_string(),
                            domid_.value));
  }
}

void DeviceBus::detach(Sbdf sbdf) noexcept {
  std::unique_lock lock(mu_);
  functions_.erase(sbdf);
}

void DeviceBus::add_route(IoSpace space, uint64_t first, uint64_t last, std::shared_ptr<Vgpu> vgpu) {
  std::unique_lock lock(mu_);
  auto& table = space == IoSpace::Port ? ports_ : mmio_;
  // Overlap with the route starting at or before `last`.
  auto it = table.upper_bound(last);
  if (it != table.begin()) {
    --it;
    if (it->second.last >= first) {
      throw Error(fmt::format("{} range {:#x}..{:#x} overlaps {:#x}..{:#x} of another BAR",
                              space == IoSpace::Port ? "port" : "MMIO", first, last, it->first,
                              it->second.last));
    }
  }
  table.emplace(first, Route{last, std::move(vgpu)});
}

void DeviceBus::remove_route(IoSpace space, uint64_t first) noexcept {
  std::unique_lock lock(mu_);
  (space == IoSpace::Port ? ports_ : mmio_).erase(first);
}

size_t DeviceBus::device_count() const {
  std::shared_lock lock(mu_);
  return functions_.size();
}

std::shared_ptr<Vgpu> DeviceBus::find(const IoAccess& access) const {
  std::shared_lock lock(mu_);
  if (access.space == AddressSpace::PciConfig) {
    const auto it = functions_.find(access.sbdf);
    return it == functions_.end() ? nullptr : it->second;
  }
  const auto& table = access.space == AddressSpace::Port ? ports_ : mmio_;
  auto it = table.upper_bound(access.addr);
  if (it == table.begin()) {
    return nullptr;
  }
  --it;
  return access.addr <= it->second.last ? it->second.vgpu : nullptr;
}

uint64_t DeviceBus::read(const IoAccess& access) noexcept {
  const uint64_t ones = access.size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * access.size)) - 1;
  auto vgpu = find(access);
  if (!vgpu) {
    ++unrouted_;
    return ones;
  }
  return vgpu->trapped_read(access);
}

void DeviceBus::write(const IoAccess& access, uint64_t value) noexcept {
  auto vgpu = find(access);
  if (!vgpu) {
    ++unrouted_;
    return;
  }
  vgpu->trapped_write(access, value);
}

}  // namespace xvgpu::gpu
