// libxenevtchn on xensim. The handle's fd is a pipe on which the host queues the numbers of
// ports that fired (like /dev/xen/evtchn): poll it, read a port with xenevtchn_pending.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

extern "C" {
#include <xenevtchn.h>
}
#include "xensim/capi_common.h"
#include "xensim/capi_handle.h"
#include "xensim/toolcore_internal.h"

using xensim::Op;
using xensim::Writer;

struct xenevtchn_handle {
  Xentoolcore__Active_Handle tc_ah{};
  std::unique_ptr<xensim::Transport> t;
  xvgpu::UniqueFd fd;
};

namespace {
int restrict_cb(Xentoolcore__Active_Handle* ah, domid_t domid) {
  return xenevtchn_restrict(reinterpret_cast<xenevtchn_handle*>(ah), domid);
}

xenevtchn_port_or_error_t port_call(xenevtchn_handle* xce, Op op, const Writer& w) {
  if (xce == nullptr) {
    return errno = EBADF, -1;
  }
  return xensim::call_rc(*xce->t, op, w);
}
}  // namespace

extern "C" {

xenevtchn_handle* xenevtchn_open(struct xentoollog_logger* /*logger*/, unsigned int flags) {
  XENSIM_INJECT("xenevtchn_open", nullptr);
  std::vector<xvgpu::UniqueFd> fds;
  auto h = xensim::new_handle<xenevtchn_handle>(xensim::SessionKind::evtchn, &fds);
  if (!h) {
    return nullptr;
  }
  if (fds.empty()) {
    errno = EIO;
    return nullptr;
  }
  h->fd = std::move(fds.front());
  if ((flags & XENEVTCHN_NO_CLOEXEC) != 0) {
    ::fcntl(h->fd.get(), F_SETFD, 0);
  }
  return xensim::register_handle(std::move(h), restrict_cb);
}

xenevtchn_handle* xenevtchn_fdopen(struct xentoollog_logger* /*logger*/, int /*fd*/,
                                   unsigned /*open_flags*/) {
  errno = EOPNOTSUPP;  // there is no /dev/xen/evtchn fd to adopt on xensim
  return nullptr;
}

int xenevtchn_close(xenevtchn_handle* xce) {
  return xensim::close_handle(xce);
}

int xenevtchn_fd(xenevtchn_handle* xce) {
  return xce->fd.get();
}

int xenevtchn_notify(xenevtchn_handle* xce, evtchn_port_t port) {
  XENSIM_INJECT("xenevtchn_notify", -1);
  return port_call(xce, Op::xenevtchn_notify, Writer().put<uint32_t>(port)) < 0 ? -1 : 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle* xce, uint32_t domid) {
  XENSIM_INJECT("xenevtchn_bind_unbound_port", -1);
  return port_call(xce, Op::xenevtchn_bind_unbound_port, Writer().put(domid));
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle* xce, uint32_t domid,
                                                     evtchn_port_t remote_port) {
  XENSIM_INJECT("xenevtchn_bind_interdomain", -1);
  return port_call(xce, Op::xenevtchn_bind_interdomain, Writer().put(domid).put<uint32_t>(remote_port));
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle* xce, unsigned int virq) {
  XENSIM_INJECT("xenevtchn_bind_virq", -1);
  return port_call(xce, Op::xenevtchn_bind_virq, Writer().put<uint32_t>(virq));
}

int xenevtchn_unbind(xenevtchn_handle* xce, evtchn_port_t port) {
  XENSIM_INJECT("xenevtchn_unbind", -1);
  return port_call(xce, Op::xenevtchn_unbind, Writer().put<uint32_t>(port)) < 0 ? -1 : 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle* xce) {
  XENSIM_INJECT("xenevtchn_pending", -1);
  uint32_t port = 0;
  for (;;) {
    const ssize_t n = ::read(xce->fd.get(), &port, sizeof port);
    if (n == static_cast<ssize_t>(sizeof port)) {
      return static_cast<xenevtchn_port_or_error_t>(port);
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n >= 0) {
      errno = EIO;
    }
    return -1;
  }
}

int xenevtchn_unmask(xenevtchn_handle* xce, evtchn_port_t port) {
  XENSIM_INJECT("xenevtchn_unmask", -1);
  return port_call(xce, Op::xenevtchn_unmask, Writer().put<uint32_t>(port)) < 0 ? -1 : 0;
}

int xenevtchn_restrict(xenevtchn_handle* xce, domid_t domid) {
  XENSIM_INJECT("xenevtchn_restrict", -1);
  return port_call(xce, Op::xenevtchn_restrict, Writer().put<uint16_t>(domid)) < 0 ? -1 : 0;
}

}  // extern "C"
