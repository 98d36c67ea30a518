// The libxenctrl subset a device model and its toolstack use: domain info (death
// detection), pause/unpause/destroy/shutdown, physmap population with the maxmem limit,
// and HVM params. After xentoolcore_restrict_all the handle is dead (ENOTTY), as Xen's
// libxencall makes it by dup2-ing /dev/null over the privcmd fd.
#include <cerrno>
#include <cstring>
#include <memory>

extern "C" {
#include <xenctrl.h>
}
#include "xensim/capi_common.h"
#include "xensim/capi_handle.h"
#include "xensim/toolcore_internal.h"

using xensim::Op;
using xensim::Writer;

struct xc_interface_core {
  Xentoolcore__Active_Handle tc_ah{};
  std::unique_ptr<xensim::Transport> t;
  bool dead = false;
};

namespace {

int restrict_cb(Xentoolcore__Active_Handle* ah, domid_t /*domid*/) {
  reinterpret_cast<xc_interface_core*>(ah)->dead = true;
  return 0;
}

int ctrl_call(xc_interface* xch, Op op, const Writer& w, xensim::Reply* r = nullptr) {
  if (xch == nullptr) {
    return errno = EBADF, -1;
  }
  if (xch->dead) {
    return errno = ENOTTY, -1;
  }
  return xensim::call_rc(*xch->t, op, w, r) < 0 ? -1 : 0;
}

Writer dom(uint32_t domid) {
  Writer w;
  w.put(domid);
  return w;
}

std::vector<xensim::DomainInfo> infos(xc_interface* xch, Op op, uint32_t first, unsigned max, int* rc) {
  Writer w;
  w.put(first).put<uint32_t>(max);
  xensim::Reply r;
  *rc = ctrl_call(xch, op, w, &r);
  std::vector<xensim::DomainInfo> out;
  if (*rc < 0) {
    return out;
  }
  xensim::Reader in(r.data);
  out.resize(in.get<uint32_t>());
  for (auto& i : out) {
    i = in.get<xensim::DomainInfo>();
  }
  return out;
}

}  // namespace

extern "C" {

xc_interface* xc_interface_open(xentoollog_logger* /*logger*/, xentoollog_logger* /*dombuild_logger*/,
                                unsigned /*open_flags*/) {
  XENSIM_INJECT("xc_interface_open", nullptr);
  auto h = xensim::new_handle<xc_interface_core>(xensim::SessionKind::ctrl);
  return h ? xensim::register_handle(std::move(h), restrict_cb) : nullptr;
}

int xc_interface_close(xc_interface* xch) {
  return xensim::close_handle(xch);
}

int xc_domain_getinfo(xc_interface* xch, uint32_t first_domid, unsigned int max_doms, xc_dominfo_t* info) {
  XENSIM_INJECT("xc_domain_getinfo", -1);
  int rc = 0;
  const auto v = infos(xch, Op::xc_domain_getinfo, first_domid, max_doms, &rc);
  if (rc < 0) {
    return -1;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    xc_dominfo_t& o = info[i];
    std::memset(&o, 0, sizeof o);
    const auto& d = v[i];
    o.domid = d.domid;
    o.dying = d.state == xensim::DomainState::dying ? 1 : 0;
    o.shutdown = d.state == xensim::DomainState::crashed || d.state == xensim::DomainState::shutdown ? 1 : 0;
    o.crashed = d.state == xensim::DomainState::crashed ? 1 : 0;
    o.paused = d.state == xensim::DomainState::paused ? 1 : 0;
    o.running = d.state == xensim::DomainState::running ? 1 : 0;
    o.blocked = 0;
    o.hvm = d.domid != 0 ? 1 : 0;
    o.hap = o.hvm;
    o.shutdown_reason = d.shutdown_reason;
    o.nr_pages = d.tot_pages;
    o.max_memkb = d.max_pages * 4;
    o.nr_online_vcpus = d.nr_vcpus;
    o.max_vcpu_id = d.nr_vcpus > 0 ? d.nr_vcpus - 1 : 0;
    std::memcpy(o.handle, d.handle, sizeof o.handle);
  }
  return static_cast<int>(v.size());
}

int xc_domain_getinfolist(xc_interface* xch, uint32_t first_domain, unsigned int max_domains,
                          xc_domaininfo_t* info) {
  XENSIM_INJECT("xc_domain_getinfolist", -1);
  int rc = 0;
  const auto v = infos(xch, Op::xc_domain_getinfolist, first_domain, max_domains, &rc);
  if (rc < 0) {
    return -1;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    xc_domaininfo_t& o = info[i];
    std::memset(&o, 0, sizeof o);
    const auto& d = v[i];
    o.domain = static_cast<domid_t>(d.domid);
    uint32_t f = 0;
    if (d.domid != 0) {
      f |= XEN_DOMINF_hvm_guest | XEN_DOMINF_hap;
    }
    if (d.state == xensim::DomainState::dying) {
      f |= XEN_DOMINF_dying;
    }
    if (d.state == xensim::DomainState::paused) {
      f |= XEN_DOMINF_paused;
    }
    if (d.state == xensim::DomainState::running) {
      f |= XEN_DOMINF_running;
    }
    if (d.state == xensim::DomainState::crashed || d.state == xensim::DomainState::shutdown) {
      f |= XEN_DOMINF_shutdown;
      f |= (d.shutdown_reason & XEN_DOMINF_shutdownmask) << XEN_DOMINF_shutdownshift;
    }
    o.flags = f;
    o.tot_pages = d.tot_pages;
    o.max_pages = d.max_pages;
    o.nr_online_vcpus = d.nr_vcpus;
    o.max_vcpu_id = d.nr_vcpus > 0 ? d.nr_vcpus - 1 : 0;
    std::memcpy(o.handle, d.handle, sizeof o.handle);
  }
  return static_cast<int>(v.size());
}

int xc_domain_pause(xc_interface* xch, uint32_t domid) {
  XENSIM_INJECT("xc_domain_pause", -1);
  return ctrl_call(xch, Op::xc_domain_pause, dom(domid));
}

int xc_domain_unpause(xc_interface* xch, uint32_t domid) {
  XENSIM_INJECT("xc_domain_unpause", -1);
  return ctrl_call(xch, Op::xc_domain_unpause, dom(domid));
}

int xc_domain_destroy(xc_interface* xch, uint32_t domid) {
  XENSIM_INJECT("xc_domain_destroy", -1);
  return ctrl_call(xch, Op::xc_domain_destroy, dom(domid));
}

int xc_domain_shutdown(xc_interface* xch, uint32_t domid, int reason) {
  XENSIM_INJECT("xc_domain_shutdown", -1);
  Writer w = dom(domid);
  w.put<uint32_t>(reason);
  return ctrl_call(xch, Op::xc_domain_shutdown, w);
}

int xc_domain_max_vcpus(xc_interface* xch, uint32_t domid, unsigned int max) {
  XENSIM_INJECT("xc_domain_max_vcpus", -1);
  Writer w = dom(domid);
  w.put<uint32_t>(max);
  return ctrl_call(xch, Op::xc_domain_max_vcpus, w);
}

int xc_domain_setmaxmem(xc_interface* xch, uint32_t domid, uint64_t max_memkb) {
  XENSIM_INJECT("xc_domain_setmaxmem", -1);
  Writer w = dom(domid);
  w.put(max_memkb);
  return ctrl_call(xch, Op::xc_domain_setmaxmem, w);
}

static int extents(xc_interface* xch, Op op, uint32_t domid, unsigned long nr, unsigned int order,
                   const xen_pfn_t* gfns) {
  Writer w = dom(domid);
  w.put<uint32_t>(order).put<uint32_t>(nr);
  for (unsigned long i = 0; i < nr; ++i) {
    w.put<uint64_t>(gfns[i]);
  }
  return ctrl_call(xch, op, w);
}

int xc_domain_populate_physmap_exact(xc_interface* xch, uint32_t domid, unsigned long nr_extents,
                                     unsigned int extent_order, unsigned int /*mem_flags*/,
                                     xen_pfn_t* extent_start) {
  XENSIM_INJECT("xc_domain_populate_physmap_exact", -1);
  return extents(xch, Op::xc_domain_populate_physmap_exact, domid, nr_extents, extent_order, extent_start);
}

int xc_domain_decrease_reservation_exact(xc_interface* xch, uint32_t domid, unsigned long nr_extents,
                                         unsigned int extent_order, xen_pfn_t* extent_start) {
  XENSIM_INJECT("xc_domain_decrease_reservation_exact", -1);
  return extents(xch, Op::xc_domain_decrease_reservation_exact, domid, nr_extents, extent_order,
                 extent_start);
}

int xc_domain_remove_from_physmap(xc_interface* xch, uint32_t domid, xen_pfn_t gpfn) {
  XENSIM_INJECT("xc_domain_remove_from_physmap", -1);
  Writer w = dom(domid);
  w.put<uint64_t>(gpfn);
  return ctrl_call(xch, Op::xc_domain_remove_from_physmap, w);
}

int xc_hvm_param_get(xc_interface* handle, uint32_t dom, uint32_t param, uint64_t* value) {
  XENSIM_INJECT("xc_hvm_param_get", -1);
  Writer w = ::dom(dom);
  w.put(param);
  xensim::Reply r;
  if (ctrl_call(handle, Op::xc_hvm_param_get, w, &r) < 0) {
    return -1;
  }
  xensim::Reader in(r.data);
  *value = in.get<uint64_t>();
  return 0;
}

int xc_hvm_param_set(xc_interface* handle, uint32_t dom, uint32_t param, uint64_t value) {
  XENSIM_INJECT("xc_hvm_param_set", -1);
  Writer w = ::dom(dom);
  w.put(param).put(value);
  return ctrl_call(handle, Op::xc_hvm_param_set, w);
}

int xc_get_hvm_param(xc_interface* handle, uint32_t dom, int param, unsigned long* value) {
  uint64_t v = 0;
  if (xc_hvm_param_get(handle, dom, static_cast<uint32_t>(param), &v) < 0) {
    return -1;
  }
  *value = v;
  return 0;
}

int xc_set_hvm_param(xc_interface* handle, uint32_t dom, int param, unsigned long value) {
  return xc_hvm_param_set(handle, dom, static_cast<uint32_t>(param), value);
}

}  // extern "C"
