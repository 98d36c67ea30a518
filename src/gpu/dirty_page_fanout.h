// One hypervisor dirty log, several readers. Xen keeps one dirty-VRAM range per domain and
// clears it on every read (xendevicemodel_track_dirty_vram), so two readers polling it directly
// would each miss the other's pages: every collection here is ORed into each reader's pending
// bitmap and a reader takes (and clears) only its own.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "gpu/platform.h"

namespace xvgpu::gpu {

enum class DirtyReader : uint8_t { Vendor = 0, Console = 1 };

class DirtyPageFanout {
 public:
  static constexpr size_t kReaders = 2;
  // Collects from `region` and hands `reader` every page dirtied since its last take (one bit
  // per page). Throws what region.collect_dirty() throws; no reader loses pages then.
  void take(DirectRegion& region, DirtyReader reader, std::vector<uint64_t>& out);

 private:
  std::mutex mu_;
  std::vector<uint64_t> fresh_;
  std::vector<uint64_t> pending_[kReaders];
};

}  // namespace xvgpu::gpu
