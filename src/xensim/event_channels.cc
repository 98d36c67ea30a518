// Event channels: dom0 ports owned by xenevtchn handles, guest-side ports consumed by Xen
// (an ioreq server's per-vCPU and buffered ports). Delivery to a handle follows the Linux
// evtchn driver: the port number is queued on the handle's fd and the port stays masked
// until xenevtchn_unmask; an event arriving while masked is redelivered on unmask.
#include <unistd.h>

#include <cerrno>

#include "xensim/host_impl.h"

namespace xensim {

uint32_t HostImpl::alloc_guest_port(Domain& d, Port p) {
  const uint32_t n = d.next_port++;
  ports_[{d.id, n}] = p;
  return n;
}

void HostImpl::deliver_local(uint32_t port) {
  auto it = ports_.find({0, port});
  if (it == ports_.end()) {
    return;
  }
  Port& p = it->second;
  if (!p.enabled) {
    p.pending = true;
    return;
  }
  p.enabled = false;
  p.pending = false;
  auto ss = sessions_.find(p.owner);
  if (ss == sessions_.end() || !ss->second.event_wr) {
    return;
  }
  // Bounded: a port is queued at most once until unmasked, and the pipe holds 16k ports.
  [[maybe_unused]] const auto n = ::write(ss->second.event_wr.get(), &port, sizeof port);
}

void HostImpl::notify_from_xen(uint16_t domid, uint32_t port) {
  auto it = ports_.find({domid, port});
  if (it == ports_.end() || it->second.remote_port == 0) {
    return;  // unbound: dropped, as in Xen
  }
  deliver_local(it->second.remote_port);
}

void HostImpl::close_local_port(uint32_t port) {
  auto it = ports_.find({0, port});
  if (it == ports_.end()) {
    return;
  }
  Port p = it->second;
  ports_.erase(it);
  if (auto ss = sessions_.find(p.owner); ss != sessions_.end()) {
    ss->second.ports.erase(port);
  }
  if (p.kind != Port::Kind::interdomain) {
    return;
  }
  // The peer goes back to unbound, waiting for dom0 again (evtchn_close).
  auto peer = ports_.find({p.remote_dom, p.remote_port});
  if (peer == ports_.end()) {
    return;
  }
  peer->second.remote_port = 0;
  peer->second.remote_dom = 0;
  if (peer->second.kind == Port::Kind::interdomain) {
    peer->second.kind = Port::Kind::unbound;
  }
}

void HostImpl::close_guest_port(uint16_t domid, uint32_t port) {
  auto it = ports_.find({domid, port});
  if (it == ports_.end()) {
    return;
  }
  const uint32_t peer = it->second.remote_port;
  ports_.erase(it);
  if (peer == 0) {
    return;
  }
  // The dom0 side stays bound but its peer is gone: notifies go nowhere.
  auto lp = ports_.find({0, peer});
  if (lp != ports_.end()) {
    lp->second.remote_port = 0;
  }
}

Reply HostImpl::op_evtchn(Session& s, SessionState& ss, Op op, Reader& in) {
  const auto port_reply = [](uint32_t p) {
    Reply r;
    r.rc = static_cast<int32_t>(p);
    return r;
  };
  const auto own = [&](uint32_t port) -> Port* {
    auto it = ports_.find({0, port});
    return it == ports_.end() || it->second.owner != &s ? nullptr : &it->second;
  };
  switch (op) {
    case Op::xenevtchn_notify: {
      const auto port = in.get<uint32_t>();
      Port* p = own(port);
      if (p == nullptr) {
        return Reply::error(ENOTCONN);
      }
      if (p->kind != Port::Kind::interdomain || p->remote_port == 0) {
        return {};  // dropped
      }
      auto peer = ports_.find({p->remote_dom, p->remote_port});
      if (peer == ports_.end()) {
        return {};
      }
      if (p->remote_dom == 0) {
        deliver_local(p->remote_port);
        return {};
      }
      // A device model's notify reaches Xen: wake the vCPU waiting on that port.
      if (peer->second.kind == Port::Kind::xen && peer->second.vcpu >= 0) {
        auto d = find(p->remote_dom);
        if (d && static_cast<uint32_t>(peer->second.vcpu) < d->nr_vcpus) {
          auto& v = *d->vcpus[static_cast<uint32_t>(peer->second.vcpu)];
          ++v.notify_seq;
          v.cv.notify_all();
        }
      }
      return {};
    }
    case Op::xenevtchn_bind_unbound_port: {
      const auto domid = in.get<uint32_t>();
      if (ss.restricted && *ss.restricted != domid) {
        return Reply::error(EPERM);
      }
      Port p;
      p.kind = Port::Kind::unbound;
      p.remote_dom = static_cast<uint16_t>(domid);
      p.owner = &s;
      const uint32_t n = next_local_port_++;
      ports_[{0, n}] = p;
      ss.ports.insert(n);
      return port_reply(n);
    }
    case Op::xenevtchn_bind_interdomain: {
      const auto domid = in.get<uint32_t>();
      const auto rport = in.get<uint32_t>();
      if (ss.restricted && *ss.restricted != domid) {
        return Reply::error(EPERM);
      }
      if (domid != 0) {
        auto d = find(static_cast<uint16_t>(domid));
        if (!d || d->killed()) {
          return Reply::error(ESRCH);
        }
      }
      auto it = ports_.find({static_cast<uint16_t>(domid), rport});
      if (it == ports_.end()) {
        return Reply::error(EINVAL);
      }
      Port& remote = it->second;
      const bool unbound_for_us = (remote.kind == Port::Kind::unbound || remote.kind == Port::Kind::xen) &&
                                  remote.remote_port == 0 && remote.remote_dom == 0;
      if (!unbound_for_us) {
        return Reply::error(EINVAL);
      }
      const uint32_t n = next_local_port_++;
      Port p;
      p.kind = Port::Kind::interdomain;
      p.remote_dom = static_cast<uint16_t>(domid);
      p.remote_port = rport;
      p.owner = &s;
      ports_[{0, n}] = p;
      ss.ports.insert(n);
      remote.remote_port = n;
      remote.remote_dom = 0;
      if (remote.kind == Port::Kind::unbound) {
        remote.kind = Port::Kind::interdomain;
      }
      // Xen sets the new local port pending: notifications sent while unbound are not lost.
      deliver_local(n);
      return port_reply(n);
    }
    case Op::xenevtchn_bind_virq: {
      (void)in.get<uint32_t>();
      if (ss.restricted) {
        return Reply::error(EPERM);
      }
      Port p;
      p.kind = Port::Kind::virq;
      p.owner = &s;
      const uint32_t n = next_local_port_++;
      ports_[{0, n}] = p;
      ss.ports.insert(n);
      return port_reply(n);
    }
    case Op::xenevtchn_unbind: {
      const auto port = in.get<uint32_t>();
      if (own(port) == nullptr) {
        return Reply::error(ENOTCONN);
      }
      close_local_port(port);
      return {};
    }
    case Op::xenevtchn_unmask: {
      const auto port = in.get<uint32_t>();
      Port* p = own(port);
      if (p == nullptr || p->enabled) {
        return {};  // the driver ignores ports it does not own
      }
      p->enabled = true;
      if (p->pending) {
        deliver_local(port);
      }
      return {};
    }
    default:
      return Reply::error(ENOSYS);
  }
}

}  // namespace xensim
