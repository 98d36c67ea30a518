#include "ioreq/restriction_check.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cstring>

namespace xvgpu::ioreq {

namespace {
bool refused(int rc_failed, int err) {
  return rc_failed && (err == EPERM || err == EACCES);
}

[[noreturn]] void not_restricted(const char* handle, Domid domid, uint16_t other, bool succeeded, int err) {
  throw Error(fmt::format(
      "dom{}: the {} handle is not restricted: acting on domain {} {}", domid.value, handle, other,
      succeeded ? "succeeded" : fmt::format("failed with {} instead of EPERM", std::strerror(err))));
}
}  // namespace

void verify_restricted(xendevicemodel_handle* dm, xenforeignmemory_handle* fmem, xenevtchn_handle* xce,
                       Domid domid) {
  const auto other = static_cast<uint16_t>(domid.value ^ 1);

  unsigned vcpus = 0;
  errno = 0;
  int rc = xendevicemodel_nr_vcpus(dm, other, &vcpus);
  if (!refused(rc != 0, errno)) {
    not_restricted("devicemodel", domid, other, rc == 0, errno);
  }

  xen_pfn_t gfn = 0;
  int err = 0;
  errno = 0;
  void* p = xenforeignmemory_map(fmem, other, PROT_READ, 1, &gfn, &err);
  const int map_errno = p == nullptr ? errno : err;
  if (p != nullptr) {
    xenforeignmemory_unmap(fmem, p, 1);
  }
  if (!refused(p == nullptr || err != 0, map_errno)) {
    not_restricted("foreignmemory", domid, other, p != nullptr && err == 0, map_errno);
  }

  errno = 0;
  const xenevtchn_port_or_error_t port = xenevtchn_bind_interdomain(xce, other, 0);
  const int evt_errno = errno;
  if (port >= 0) {
    xenevtchn_unbind(xce, static_cast<evtchn_port_t>(port));
  }
  if (!refused(port < 0, evt_errno)) {
    not_restricted("evtchn", domid, other, port >= 0, evt_errno);
  }
}

}  // namespace xvgpu::ioreq
