// Maps guest frames into this process. The map cache is written against this interface so
// that its logic is testable without Xen; ForeignPageMapper implements it on
// xenforeignmemory_map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace xvgpu::ioreq {

class PageMapper {
 public:
  virtual ~PageMapper() = default;
  // Maps gfns[i] at result + i pages, read-write. errs[i] receives 0 or the errno of that
  // page (a failed page must not be touched). Returns nullptr with errno set when nothing
  // could be mapped at all.
  virtual void* map(std::span<const uint64_t> gfns, std::span<int> errs) = 0;
  virtual void unmap(void* addr, size_t pages) noexcept = 0;
};

}  // namespace xvgpu::ioreq
