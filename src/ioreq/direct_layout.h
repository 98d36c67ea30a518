// Where the direct memory (VRAM) of one device model lives in its guest's physmap: the pool's
// scratch range and, for each region carved from it, the frame it is at now (its scratch frame,
// or the BAR address the guest placed it at). A saved device state records it, so that a device
// model started on the restored domain adopts the pages Xen restored instead of populating new
// ones.
#pragma once

#include <cstdint>
#include <vector>

namespace xvgpu::ioreq {

struct DirectRegionPlacement {
  uint64_t first_page = 0;  // offset into the pool, in pages
  uint64_t pages = 0;
  uint64_t gfn = 0;  // where its first page is in the guest's physmap now
  bool operator==(const DirectRegionPlacement&) const = default;
};

struct DirectLayout {
  uint64_t scratch_gfn = 0;
  uint64_t pages = 0;                          // the whole pool (VRAM of every vGPU plus hot-add room)
  std::vector<DirectRegionPlacement> regions;  // by first_page
  bool operator==(const DirectLayout&) const = default;
};

}  // namespace xvgpu::ioreq
