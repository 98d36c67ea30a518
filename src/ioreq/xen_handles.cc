#include "ioreq/xen_handles.h"

#include <fmt/format.h>

namespace xvgpu::ioreq {

namespace {
template <typename T>
T* check_open(T* h, const char* what) {
  if (h == nullptr) {
    const int e = errno;
    throw SystemError(e != 0 ? e : EIO, what);
  }
  return h;
}
}  // namespace

DevicemodelHandle open_devicemodel() {
  auto* h = check_open(xendevicemodel_open(nullptr, 0), "xendevicemodel_open");
  return {h, DevicemodelCloser{}};
}

EvtchnHandle open_evtchn() {
  return EvtchnHandle(check_open(xenevtchn_open(nullptr, 0), "xenevtchn_open"));
}

ForeignMemoryHandle open_foreign_memory() {
  auto* h = check_open(xenforeignmemory_open(nullptr, 0), "xenforeignmemory_open");
  return {h, [](xenforeignmemory_handle* p) { xenforeignmemory_close(p); }};
}

BoundPort bind_interdomain(xenevtchn_handle* xce, uint32_t domid, evtchn_port_t remote) {
  const xenevtchn_port_or_error_t local = xenevtchn_bind_interdomain(xce, domid, remote);
  check_errno(local, fmt::format("xenevtchn_bind_interdomain(dom {}, remote port {})", domid, remote));
  return {xce, static_cast<evtchn_port_t>(local)};
}

}  // namespace xvgpu::ioreq
