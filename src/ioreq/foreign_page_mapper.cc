#include "ioreq/foreign_page_mapper.h"

#include <sys/mman.h>

#include <vector>

namespace xvgpu::ioreq {

void* ForeignPageMapper::map(std::span<const uint64_t> gfns, std::span<int> errs) {
  static_assert(sizeof(xen_pfn_t) == sizeof(uint64_t));
  const std::vector<xen_pfn_t> pfns(gfns.begin(), gfns.end());
  return xenforeignmemory_map(fmem_.get(), domid_.value, PROT_READ | PROT_WRITE, pfns.size(), pfns.data(),
                              errs.data());
}

void ForeignPageMapper::unmap(void* addr, size_t pages) noexcept {
  xenforeignmemory_unmap(fmem_.get(), addr, pages);
}

}  // namespace xvgpu::ioreq
