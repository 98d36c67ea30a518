// gpu::RangeClaims on Xen: registers PCI functions and port/MMIO ranges with our ioreq
// server (xendevicemodel_map_*_to_ioreq_server) and mirrors them in the ClaimTable that
// request validation checks. Throws Error / SystemError naming the range on failure; the
// table only changes when Xen agreed.
#pragma once

#include "common/types.h"
#include "gpu/platform.h"
#include "ioreq/claim_table.h"
#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

class XenRangeClaims final : public gpu::RangeClaims {
 public:
  XenRangeClaims(DevicemodelHandle dm, Domid domid, ioservid_t server, ClaimTable& table)
      : dm_(std::move(dm)), domid_(domid), server_(server), table_(table) {}

  void claim_pci(Sbdf sbdf) override;
  void release_pci(Sbdf sbdf) override;
  void claim_range(gpu::IoSpace space, uint64_t first, uint64_t last) override;
  void release_range(gpu::IoSpace space, uint64_t first, uint64_t last) override;

 private:
  DevicemodelHandle dm_;
  Domid domid_;
  ioservid_t server_;
  ClaimTable& table_;
};

}  // namespace xvgpu::ioreq
