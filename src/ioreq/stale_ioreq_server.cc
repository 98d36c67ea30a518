#include "ioreq/stale_ioreq_server.h"

// clang-format off
extern "C" {
#include <xenctrl.h>
}
// clang-format on

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

std::optional<std::array<uint8_t, 16>> domain_handle(Domid domid) {
  const std::string ctx = "dom" + std::to_string(domid.value) + ": reading the domain handle";
  const std::unique_ptr<xc_interface, int (*)(xc_interface*)> xc(xc_interface_open(nullptr, nullptr, 0),
                                                                 xc_interface_close);
  if (!xc) {
    throw SystemError(errno != 0 ? errno : EIO, ctx + ": xc_interface_open");
  }
  // xc_domain_getinfolist, not xc_domain_getinfo: the same handle, and the call Xen keeps after
  // 4.17. Both report the first domain at or above domid: another id means there is none.
  xc_domaininfo_t info{};
  const int n = xc_domain_getinfolist(xc.get(), domid.value, 1, &info);
  check_errno(n, ctx + ": xc_domain_getinfolist");
  if (n != 1 || info.domain != domid.value) {
    return std::nullopt;
  }
  std::array<uint8_t, 16> handle{};
  static_assert(sizeof info.handle == handle.size());
  std::memcpy(handle.data(), info.handle, handle.size());
  return handle;
}

bool destroy_stale_ioreq_server(Domid domid, uint16_t id) {
  const DevicemodelHandle dm = open_devicemodel();
  if (xendevicemodel_destroy_ioreq_server(dm.get(), domid.value, id) == 0) {
    return true;
  }
  if (errno == ENOENT) {
    return false;
  }
  throw SystemError(errno, "xendevicemodel_destroy_ioreq_server(dom" + std::to_string(domid.value) +
                               ", server " + std::to_string(id) + ")");
}

}  // namespace xvgpu::ioreq
