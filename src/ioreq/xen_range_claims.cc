#include "ioreq/xen_range_claims.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace xvgpu::ioreq {

namespace {

// A release Xen refuses with "no such domain" (ESRCH) or "no such server" (ENOENT) found the
// claim gone with the domain: expected in the teardown after its death, so not an error.
void check_release(int rc, const std::string& what) {
  if (rc == 0) {
    return;
  }
  const int e = errno;
  if (e == ESRCH || e == ENOENT) {
    spdlog::debug("{}: {} (gone with the domain)", what, std::strerror(e));
    return;
  }
  throw SystemError(e, what);
}
const char* name(gpu::IoSpace s) {
  return s == gpu::IoSpace::Port ? "port" : "MMIO";
}
}  // namespace

void XenRangeClaims::claim_pci(Sbdf sbdf) {
  if (!sbdf.valid()) {
    throw Error("claim of PCI function " + sbdf.to_string() + ": invalid device/function");
  }
  if (table_.contains_pci(sbdf)) {
    throw Error("claim of PCI function " + sbdf.to_string() + ": already claimed");
  }
  check_errno(xendevicemodel_map_pcidev_to_ioreq_server(dm_.get(), domid_.value, server_, sbdf.seg, sbdf.bus,
                                                        sbdf.dev, sbdf.fn),
              fmt::format("dom{}: claiming PCI function {}", domid_.value, sbdf.to_string()));
  table_.add_pci(sbdf);
}

void XenRangeClaims::release_pci(Sbdf sbdf) {
  if (!table_.contains_pci(sbdf)) {
    throw Error("release of PCI function " + sbdf.to_string() + ": not claimed");
  }
  // Forget it locally first: whatever Xen answers, we no longer serve it.
  table_.remove_pci(sbdf);
  check_release(xendevicemodel_unmap_pcidev_from_ioreq_server(dm_.get(), domid_.value, server_, sbdf.seg,
                                                              sbdf.bus, sbdf.dev, sbdf.fn),
                fmt::format("dom{}: releasing PCI function {}", domid_.value, sbdf.to_string()));
}

void XenRangeClaims::claim_range(gpu::IoSpace space, uint64_t first, uint64_t last) {
  ClaimTable probe;  // validates bounds with the same rules before bothering Xen
  probe.add(space, first, last);
  for (const auto s : {space}) {
    if (table_.contains(s, first, first) || table_.contains(s, last, last)) {
      throw Error(
          fmt::format("claim of {} range {:#x}-{:#x}: overlaps an existing claim", name(space), first, last));
    }
  }
  check_errno(xendevicemodel_map_io_range_to_ioreq_server(dm_.get(), domid_.value, server_,
                                                          space == gpu::IoSpace::Mmio ? 1 : 0, first, last),
              fmt::format("dom{}: claiming {} range {:#x}-{:#x}", domid_.value, name(space), first, last));
  try {
    table_.add(space, first, last);
  } catch (...) {
    xendevicemodel_unmap_io_range_from_ioreq_server(dm_.get(), domid_.value, server_,
                                                    space == gpu::IoSpace::Mmio ? 1 : 0, first, last);
    throw;
  }
}

void XenRangeClaims::release_range(gpu::IoSpace space, uint64_t first, uint64_t last) {
  table_.remove(space, first, last);  // throws if not exactly claimed
  check_release(xendevicemodel_unmap_io_range_from_ioreq_server(
                    dm_.get(), domid_.value, server_, space == gpu::IoSpace::Mmio ? 1 : 0, first, last),
                fmt::format("dom{}: releasing {} range {:#x}-{:#x}", domid_.value, name(space), first, last));
}

}  // namespace xvgpu::ioreq
