// PageMapper on xenforeignmemory_map for one domain.
#pragma once

#include "common/types.h"
#include "ioreq/page_mapper.h"
#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

class ForeignPageMapper final : public PageMapper {
 public:
  ForeignPageMapper(ForeignMemoryHandle fmem, Domid domid) : fmem_(std::move(fmem)), domid_(domid) {}
  void* map(std::span<const uint64_t> gfns, std::span<int> errs) override;
  void unmap(void* addr, size_t pages) noexcept override;

 private:
  ForeignMemoryHandle fmem_;
  Domid domid_;
};

}  // namespace xvgpu::ioreq
