// The ranges and PCI functions this server claimed from Xen, kept locally so that every
// request can be checked against them: Xen only routes claimed accesses to us, but the
// request page is shared memory and is checked anyway (defence in depth, XSA-238).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <shared_mutex>

#include "common/types.h"
#include "gpu/platform.h"

namespace xvgpu::ioreq {

class ClaimTable {
 public:
  // Throws Error if first > last or the range overlaps an existing claim (Xen refuses too).
  void add(gpu::IoSpace space, uint64_t first, uint64_t last);
  // Throws Error unless exactly [first, last] was claimed.
  void remove(gpu::IoSpace space, uint64_t first, uint64_t last);
  void add_pci(Sbdf sbdf);
  void remove_pci(Sbdf sbdf);

  // True when [first, last] lies entirely inside one claimed range.
  [[nodiscard]] bool contains(gpu::IoSpace space, uint64_t first, uint64_t last) const;
  [[nodiscard]] bool contains_pci(Sbdf sbdf) const;
  [[nodiscard]] bool has(gpu::IoSpace space, uint64_t first, uint64_t last) const;

 private:
  using Ranges = std::map<uint64_t, uint64_t>;  // first -> last
  Ranges& ranges(gpu::IoSpace s) { return s == gpu::IoSpace::Port ? ports_ : mmio_; }
  [[nodiscard]] const Ranges& ranges(gpu::IoSpace s) const {
    return s == gpu::IoSpace::Port ? ports_ : mmio_;
  }

  mutable std::shared_mutex mu_;
  Ranges ports_;
  Ranges mmio_;
  std::set<Sbdf> pci_;
};

}  // namespace xvgpu::ioreq
