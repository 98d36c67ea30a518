#include "gpu/dirty_page_fanout.h"

#include <algorithm>

namespace xvgpu::gpu {

void DirtyPageFanout::take(DirectRegion& region, DirtyReader reader, std::vector<uint64_t>& out) {
  std::lock_guard lock(mu_);
  region.collect_dirty(fresh_);
  for (auto& p : pending_) {
    if (p.size() < fresh_.size()) p.resize(fresh_.size(), 0);
    for (size_t w = 0; w < fresh_.size(); ++w) p[w] |= fresh_[w];
  }
  auto& mine = pending_[static_cast<size_t>(reader)];
  out.assign(mine.begin(), mine.end());
  std::fill(mine.begin(), mine.end(), 0);
}

}  // namespace xvgpu::gpu
