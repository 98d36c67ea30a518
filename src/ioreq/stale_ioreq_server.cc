#include "ioreq/stale_ioreq_server.h"

#include <cerrno>

#include "ioreq/xen_handles.h"

namespace xvgpu::ioreq {

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
