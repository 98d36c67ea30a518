#include "ioreq/claim_table.h"

#include <fmt/format.h>

#include <mutex>

namespace xvgpu::ioreq {

namespace {
const char* name(gpu::IoSpace s) {
  return s == gpu::IoSpace::Port ? "port" : "MMIO";
}
}  // namespace

void ClaimTable::add(gpu::IoSpace space, uint64_t first, uint64_t last) {
  if (first > last) {
    throw Error(fmt::format("claim of {} range {:#x}-{:#x}: end before start", name(space), first, last));
  }
  if (space == gpu::IoSpace::Port && last > 0xffff) {
    throw Error(fmt::format("claim of port range {:#x}-{:#x}: beyond port 0xffff", first, last));
  }
  std::unique_lock lock(mu_);
  auto& r = ranges(space);
  auto next = r.lower_bound(first);
  if (next != r.end() && next->first <= last) {
    throw Error(fmt::format("claim of {} range {:#x}-{:#x} overlaps {:#x}-{:#x}", name(space), first, last,
                            next->first, next->second));
  }
  if (next != r.begin()) {
    auto prev = std::prev(next);
    if (prev->second >= first) {
      throw Error(fmt::format("claim of {} range {:#x}-{:#x} overlaps {:#x}-{:#x}", name(space), first, last,
                              prev->first, prev->second));
    }
  }
  r.emplace(first, last);
}

void ClaimTable::remove(gpu::IoSpace space, uint64_t first, uint64_t last) {
  std::unique_lock lock(mu_);
  auto& r = ranges(space);
  auto it = r.find(first);
  if (it == r.end() || it->second != last) {
    throw Error(fmt::format("release of {} range {:#x}-{:#x}: not claimed", name(space), first, last));
  }
  r.erase(it);
}

void ClaimTable::add_pci(Sbdf sbdf) {
  if (!sbdf.valid()) {
    throw Error("claim of PCI function " + sbdf.to_string() + ": invalid device/function");
  }
  std::unique_lock lock(mu_);
  if (!pci_.insert(sbdf).second) {
    throw Error("claim of PCI function " + sbdf.to_string() + ": already claimed");
  }
}

void ClaimTable::remove_pci(Sbdf sbdf) {
  std::unique_lock lock(mu_);
  if (pci_.erase(sbdf) == 0) {
    throw Error("release of PCI function " + sbdf.to_string() + ": not claimed");
  }
}

bool ClaimTable::contains(gpu::IoSpace space, uint64_t first, uint64_t last) const {
  if (first > last) {
    return false;
  }
  std::shared_lock lock(mu_);
  const auto& r = ranges(space);
  auto it = r.upper_bound(first);
  if (it == r.begin()) {
    return false;
  }
  --it;
  return it->first <= first && last <= it->second;
}

bool ClaimTable::has(gpu::IoSpace space, uint64_t first, uint64_t last) const {
  std::shared_lock lock(mu_);
  const auto& r = ranges(space);
  auto it = r.find(first);
  return it != r.end() && it->second == last;
}

bool ClaimTable::contains_pci(Sbdf sbdf) const {
  std::shared_lock lock(mu_);
  return pci_.contains(sbdf);
}

}  // namespace xvgpu::ioreq
