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
  auto h = std::make_unique<xenevtchn_handle>();
  std::vector<xvgpu::UniqueFd> fds;
  h->t = xensim::open_transport(xensim::SessionKind::evtchn, &fds);
  if (!h->t) {
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
  h->tc_ah.restrict_callback = restrict_cb;
  xentoolcore__register_active_handle(&h->tc_ah);
  return h.release();
}

xenevtchn_handle* xenevtchn_fdopen(struct xentoollog_logger* /*logger*/, int /*fd*/,
                                   unsigned /*open_flags*/) {
  errno = EOPNOTSUPP;  // there is no /dev/xen/evtchn fd to adopt on xensim
  return nullptr;
}

int xenevtchn_close(xenevtchn_handle* xce) {
  if (xce == nullptr) {
    return 0;
  }
  xentoolcore__deregister_active_handle(&xce->tc_ah);
  std::unique_ptr<xenevtchn_handle> own(xce);
  return 0;
}

int xenevtchn_fd(xenevtchn_handle* xce) {
  return xce->fd.get();
}

int xenevtchn_notify(xenevtchn_handle* xce, evtchn_port_t port) {
  XENSIM_INJECT("xenevtchn_notify", -1);
  Writer w;
  w.put<uint32_t>(port);
  return port_call(xce, Op::xenevtchn_notify, w) < 0 ? -1 : 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle* xce, uint32_t domid) {
  XENSIM_INJECT("xenevtchn_bind_unbound_port", -1);
  Writer w;
  w.put(domid);
  return port_call(xce, Op::xenevtchn_bind_unbound_port, w);
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle* xce, uint32_t domid,
                                                     evtchn_port_t remote_port) {
  XENSIM_INJECT("xenevtchn_bind_interdomain", -1);
  Writer w;
  w.put(domid).put<uint32_t>(remote_port);
  return port_call(xce, Op::xenevtchn_bind_interdomain, w);
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle* xce, unsigned int virq) {
  XENSIM_INJECT("xenevtchn_bind_virq", -1);
  Writer w;
  w.put<uint32_t>(virq);
  return port_call(xce, Op::xenevtchn_bind_virq, w);
}

int xenevtchn_unbind(xenevtchn_handle* xce, evtchn_port_t port) {
  XENSIM_INJECT("xenevtchn_unbind", -1);
  Writer w;
  w.put<uint32_t>(port);
  return port_call(xce, Op::xenevtchn_unbind, w) < 0 ? -1 : 0;
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
  Writer w;
  w.put<uint32_t>(port);
  return port_call(xce, Op::xenevtchn_unmask, w) < 0 ? -1 : 0;
}

int xenevtchn_restrict(xenevtchn_handle* xce, domid_t domid) {
  XENSIM_INJECT("xenevtchn_restrict", -1);
  Writer w;
  w.put<uint16_t>(domid);
  return port_call(xce, Op::xenevtchn_restrict, w) < 0 ? -1 : 0;
}

}  // extern "C"
