// Decoding of requests and the ops that act on host state: device-model ops (dm_op
// semantics of xen/arch/x86/hvm/dm.c and xen/common/ioreq.c), foreign mapping, domctls,
// xenstore and the guest/control side. Each op returns the Xen library's convention.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/host_impl.h"

namespace xensim {

namespace {

Reply ok_with(Writer& w) {
  Reply r;
  r.data = std::move(w.data());
  return r;
}

Reply rc_reply(int rc) {
  return rc < 0 ? Reply::error(-rc) : Reply{};
}

xvgpu::UniqueFd dup_fd(int fd) {
  return xvgpu::UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

bool is_guest_or_control(Op op) {
  return op >= Op::guest_create_domain;
}

}  // namespace

Reply HostImpl::dispatch(Session& s, Op op, std::span<const uint8_t> payload) {
  if (static_cast<uint32_t>(op) >= static_cast<uint32_t>(Op::count_)) {
    return Reply::error(ENOSYS);
  }
  // Releasing a mapping's references cannot fail (it is part of munmap); the unmap
  // calls' injected failures happen in the client, before anything is released.
  const bool is_release = op == Op::xenforeignmemory_unmap || op == Op::xenforeignmemory_unmap_resource;
  if (op != Op::hello && !is_guest_or_control(op) && !is_release) {
    if (const int e = failures.check(op_name(op)); e != 0) {
      return Reply::error(e);
    }
  }
  try {
    Reader in(payload);
    if (op >= Op::guest_create_domain) {
      Lock lk(mu_);
      return op_guest(lk, op, in);
    }
    Lock lk(mu_);
    auto it = sessions_.find(&s);
    if (it == sessions_.end()) {
      return Reply::error(EBADF);
    }
    SessionState& ss = it->second;
    if (ss.dead) {
      return Reply::error(ss.kind == SessionKind::store ? ECONNRESET : ENOTTY);
    }
    if (op >= Op::xc_domain_getinfo && op <= Op::xc_hvm_param_set) {
      return op_ctrl(lk, op, in);
    }
    return do_op(s, ss, op, in);
  } catch (const ProtocolError&) {
    return Reply::error(EINVAL);
  } catch (const std::bad_alloc&) {
    return Reply::error(ENOMEM);
  }
}

Reply HostImpl::do_op(Session& s, SessionState& ss, Op op, Reader& in) {
  switch (op) {
    case Op::hello: {
      ss.kind = static_cast<SessionKind>(in.get<uint32_t>());
      Reply r;
      if (ss.kind == SessionKind::evtchn) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) {
          return Reply::error(errno);
        }
        ::fcntl(p[1], F_SETFL, O_NONBLOCK);
        r.fds.emplace_back(p[0]);
        ss.event_wr.reset(p[1]);
      } else if (ss.kind == SessionKind::store) {
        int p[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) != 0) {
          return Reply::error(errno);
        }
        ::fcntl(p[1], F_SETFL, O_NONBLOCK);
        ::shutdown(p[0], SHUT_WR);
        r.fds.emplace_back(p[0]);
        ss.event_wr.reset(p[1]);
      }
      return r;
    }
    case Op::xendevicemodel_restrict:
    case Op::xenforeignmemory_restrict:
    case Op::xenevtchn_restrict: {
      const auto domid = in.get<uint16_t>();
      // Restricting twice to another domain is refused, as privcmd does.
      if (ss.restricted && *ss.restricted != domid) {
        return Reply::error(EPERM);
      }
      ss.restricted = domid;
      return {};
    }
    default:
      break;
  }
  if (op >= Op::xendevicemodel_create_ioreq_server && op <= Op::xendevicemodel_nr_vcpus) {
    return op_dm(ss, op, in);
  }
  if (op >= Op::xenforeignmemory_map && op <= Op::xenforeignmemory_unmap_resource) {
    return op_foreign(ss, op, in);
  }
  if (op >= Op::xenevtchn_notify && op <= Op::xenevtchn_unmask) {
    return op_evtchn(s, ss, op, in);
  }
  if (op >= Op::xs_read && op <= Op::xs_unwatch) {
    return op_store(s, ss, op, in);
  }
  return Reply::error(ENOSYS);
}

// ---- device model ops ----

Reply HostImpl::op_dm(SessionState& ss, Op op, Reader& in) {
  const auto domid = in.get<uint16_t>();
  std::shared_ptr<Domain> d;
  std::shared_ptr<IoreqServer> s;
  const auto with_server = [&](uint16_t id) { return server_lookup(ss, domid, id, &d, &s); };
  if (int rc = server_lookup(ss, domid, 0, &d, nullptr); rc != 0) {
    return Reply::error(-rc);
  }

  switch (op) {
    case Op::xendevicemodel_create_ioreq_server: {
      const auto handling = in.get<int32_t>();
      if (handling < HVM_IOREQSRV_BUFIOREQ_OFF || handling > HVM_IOREQSRV_BUFIOREQ_ATOMIC) {
        return Reply::error(EINVAL);
      }
      uint16_t id = 0;
      while (id < kMaxIoreqServers && d->servers.contains(id)) {
        ++id;
      }
      if (id == kMaxIoreqServers) {
        return Reply::error(ENOSPC);
      }
      auto srv = std::make_shared<IoreqServer>();
      srv->id = id;
      srv->bufioreq_handling = handling;
      // The buffered page directly precedes the ioreq page, so frames 0..1 map contiguously.
      if (int rc = alloc_page(*d, &srv->buf_page); rc != 0) {
        return Reply::error(-rc);
      }
      if (int rc = alloc_page(*d, &srv->ioreq_page); rc != 0) {
        return Reply::error(-rc);
      }
      std::memset(d->page_ptr(srv->buf_page), 0, kPage);
      std::memset(d->page_ptr(srv->ioreq_page), 0, kPage);
      for (uint32_t v = 0; v < d->nr_vcpus; ++v) {
        Port p;
        p.kind = Port::Kind::xen;
        p.server = id;
        p.vcpu = static_cast<int32_t>(v);
        const uint32_t port = alloc_guest_port(*d, p);
        srv->vcpu_port.push_back(port);
        d->slot(*srv, v)->vp_eport = port;  // device models read their port from the slot
      }
      if (handling != HVM_IOREQSRV_BUFIOREQ_OFF) {
        Port p;
        p.kind = Port::Kind::xen;
        p.server = id;
        srv->buf_port = alloc_guest_port(*d, p);
      }
      d->servers[id] = srv;
      Writer w;
      w.put(id);
      return ok_with(w);
    }
    case Op::xendevicemodel_get_ioreq_server_info: {
      const auto id = in.get<uint16_t>();
      const auto want_gfns = in.get<uint8_t>();
      if (int rc = with_server(id); rc != 0) {
        return Reply::error(-rc);
      }
      uint64_t ioreq_gfn = 0, buf_gfn = 0;
      if (want_gfns != 0) {
        // Resource-mapped pages cannot also be given gfns (hvm_map_ioreq_gfn: EPERM).
        if (s->mode == PageMode::resource) {
          return Reply::error(EPERM);
        }
        if (s->mode == PageMode::none) {
          s->mode = PageMode::legacy;
          if (!s->enabled) {
            set_legacy_gfns(*d, *s, true);
          }
        }
        ioreq_gfn = kLegacyGfnBase + 2ull * id;
        if (s->bufioreq_handling != HVM_IOREQSRV_BUFIOREQ_OFF) {
          buf_gfn = ioreq_gfn + 1;
        }
      }
      Writer w;
      w.put(ioreq_gfn).put(buf_gfn).put(s->buf_port);
      return ok_with(w);
    }
    case Op::xendevicemodel_map_io_range_to_ioreq_server:
    case Op::xendevicemodel_unmap_io_range_from_ioreq_server:
    case Op::xendevicemodel_map_pcidev_to_ioreq_server:
    case Op::xendevicemodel_unmap_pcidev_from_ioreq_server: {
      const auto id = in.get<uint16_t>();
      const auto type = in.get<uint32_t>();
      const auto start = in.get<uint64_t>();
      const auto end = in.get<uint64_t>();
      if (int rc = with_server(id); rc != 0) {
        return Reply::error(-rc);
      }
      if (start > end) {
        return Reply::error(EINVAL);
      }
      if (type > XEN_DMOP_IO_RANGE_PCI) {
        return Reply::error(EINVAL);
      }
      RangeSet& r = s->ranges[type];
      const bool map = op == Op::xendevicemodel_map_io_range_to_ioreq_server ||
                       op == Op::xendevicemodel_map_pcidev_to_ioreq_server;
      if (map) {
        if (r.overlaps(start, end)) {
          return Reply::error(EEXIST);
        }
        return rc_reply(r.add(start, end));
      }
      if (!r.contains(start, end)) {
        return Reply::error(ENOENT);
      }
      return rc_reply(r.remove(start, end));
    }
    case Op::xendevicemodel_map_mem_type_to_ioreq_server: {
      const auto id = in.get<uint16_t>();
      const auto type = in.get<uint16_t>();
      const auto flags = in.get<uint32_t>();
      if (int rc = with_server(id); rc != 0) {
        return Reply::error(-rc);
      }
      if (type != HVMMEM_ioreq_server || (flags & ~XEN_DMOP_IOREQ_MEM_ACCESS_WRITE) != 0) {
        return Reply::error(EINVAL);
      }
      return {};
    }
    case Op::xendevicemodel_destroy_ioreq_server: {
      const auto id = in.get<uint16_t>();
      if (int rc = with_server(id); rc != 0) {
        return Reply::error(-rc);
      }
      destroy_server(*d, s);
      return {};
    }
    case Op::xendevicemodel_set_ioreq_server_state: {
      const auto id = in.get<uint16_t>();
      const auto enabled = in.get<int32_t>() != 0;
      if (int rc = with_server(id); rc != 0) {
        return Reply::error(-rc);
      }
      if (s->enabled == enabled) {
        return {};
      }
      s->enabled = enabled;
      // Legacy gfns are in the guest's p2m only while the server is disabled.
      if (s->mode == PageMode::legacy) {
        set_legacy_gfns(*d, *s, !enabled);
      }
      return {};
    }
    case Op::xendevicemodel_set_pci_intx_level: {
      const auto seg = in.get<uint16_t>();
      const auto bus = in.get<uint8_t>();
      const auto dev = in.get<uint8_t>();
      const auto intx = in.get<uint8_t>();
      const auto level = in.get<uint32_t>();
      if (seg != 0 || bus != 0 || dev > 0x1f || intx > 3 || level > 1) {
        return Reply::error(EINVAL);
      }
      const uint64_t key = (static_cast<uint64_t>(XEN_DMOP_PCI_SBDF(seg, bus, dev, 0)) << 8) | intx;
      d->intx[key] = level;
      d->msi_cv.notify_all();
      return {};
    }
    case Op::xendevicemodel_set_isa_irq_level: {
      const auto irq = in.get<uint8_t>();
      const auto level = in.get<uint32_t>();
      if (irq > 15 || level > 1) {
        return Reply::error(EINVAL);
      }
      d->isa_irq[irq] = level;
      return {};
    }
    case Op::xendevicemodel_set_irq_level:
      return Reply::error(EOPNOTSUPP);  // Arm only
    case Op::xendevicemodel_set_pci_link_route: {
      const auto link = in.get<uint8_t>();
      const auto irq = in.get<uint8_t>();
      if (link > 3 || irq > 15) {
        return Reply::error(EINVAL);
      }
      return {};
    }
    case Op::xendevicemodel_inject_msi: {
      MsiRecord m;
      m.addr = in.get<uint64_t>();
      m.data = in.get<uint32_t>();
      d->msis.push_back(m);
      d->msi_cv.notify_all();
      return {};
    }
    case Op::xendevicemodel_track_dirty_vram: {
      const auto first = in.get<uint64_t>();
      const auto nr = in.get<uint32_t>();
      if (nr > (uint64_t{1} << 30) / kPage) {
        return Reply::error(EINVAL);
      }
      Writer w;
      if (nr == 0) {
        d->vram = {};
        return ok_with(w);
      }
      std::vector<unsigned long> bits((nr + 63) / 64, 0);
      if (d->vram.begin != first || d->vram.nr != nr) {
        // A new range: everything counts as dirty (hap_track_dirty_vram).
        d->vram.begin = first;
        d->vram.nr = nr;
        d->vram.dirty.assign(nr, false);
        std::fill(bits.begin(), bits.end(), ~0ul);
      } else {
        for (uint32_t i = 0; i < nr; ++i) {
          if (d->vram.dirty[i]) {
            bits[i / 64] |= 1ul << (i % 64);
          }
        }
        d->vram.dirty.assign(nr, false);
      }
      w.bytes({reinterpret_cast<const uint8_t*>(bits.data()), bits.size() * sizeof(unsigned long)});
      return ok_with(w);
    }
    case Op::xendevicemodel_modified_memory:
    case Op::xendevicemodel_modified_memory_bulk: {
      const auto n = op == Op::xendevicemodel_modified_memory ? 1u : in.get<uint32_t>();
      if (n == 0 || n > 1024) {
        return Reply::error(EINVAL);
      }
      uint64_t max_gfn = 0;
      for (const auto& [g, p] : d->p2m) {
        max_gfn = std::max(max_gfn, g);
      }
      for (uint32_t i = 0; i < n; ++i) {
        const auto first = in.get<uint64_t>();
        const auto nr = in.get<uint32_t>();
        const auto pad = in.get<uint32_t>();
        if (pad != 0 || first > max_gfn || nr > max_gfn - first + 1) {
          return Reply::error(EINVAL);
        }
        for (uint64_t g = first; g < first + nr && d->modified.size() < (1u << 20); ++g) {
          d->modified.insert(g);
        }
      }
      return {};
    }
    case Op::xendevicemodel_set_mem_type: {
      const auto type = in.get<uint32_t>();
      (void)in.get<uint64_t>();
      (void)in.get<uint32_t>();
      if (type > HVMMEM_ioreq_server) {
        return Reply::error(EINVAL);
      }
      return {};
    }
    case Op::xendevicemodel_inject_event: {
      const auto vcpu = in.get<int32_t>();
      if (vcpu < 0 || static_cast<uint32_t>(vcpu) >= d->nr_vcpus) {
        return Reply::error(EINVAL);
      }
      return {};
    }
    case Op::xendevicemodel_shutdown: {
      shut_down(*d, in.get<uint32_t>(), "shutdown(crash) by the device model");
      return {};
    }
    case Op::xendevicemodel_relocate_memory: {
      const auto size = in.get<uint32_t>();
      const auto src = in.get<uint64_t>();
      const auto dst = in.get<uint64_t>();
      for (uint32_t i = 0; i < size; ++i) {
        auto it = d->p2m.find(src + i);
        if (it == d->p2m.end()) {
          return Reply::error(EINVAL);
        }
        const uint64_t page = it->second;
        d->p2m.erase(it);
        if (d->p2m.contains(dst + i)) {
          --d->tot_pages;  // the page at dst is dropped
        }
        d->p2m[dst + i] = page;
      }
      if (size != 0) {
        d->mapcache_invalidate = true;
      }
      return {};
    }
    case Op::xendevicemodel_pin_memory_cacheattr: {
      const auto start = in.get<uint64_t>();
      const auto end = in.get<uint64_t>();
      if (start > end) {
        return Reply::error(EINVAL);
      }
      return {};
    }
    case Op::xendevicemodel_nr_vcpus: {
      Writer w;
      w.put(d->nr_vcpus);
      return ok_with(w);
    }
    default:
      return Reply::error(ENOSYS);
  }
}

// ---- foreign memory ----

Reply HostImpl::op_foreign(SessionState& ss, Op op, Reader& in) {
  const auto domid = in.get<uint16_t>();
  if (op == Op::xenforeignmemory_unmap || op == Op::xenforeignmemory_unmap_resource) {
    // Releases one mapping's page references; a dying domain may be destroyed by it.
    if (!ss.mappings.contains(domid)) {
      return Reply::error(EINVAL);
    }
    release_mappings(ss, domid, 1);
    return {};
  }
  if (ss.restricted && *ss.restricted != domid) {
    return Reply::error(EPERM);
  }
  auto d = find(domid);
  if (!d || d->killed()) {
    return Reply::error(ESRCH);
  }
  // Each successful map takes a reference the client gives back with an unmap op.
  const auto take_ref = [&] {
    ++ss.mappings[domid];
    ++d->mappings;
  };
  Writer w;
  Reply r;
  switch (op) {
    case Op::xenforeignmemory_map:
    case Op::xenforeignmemory_map2: {
      const auto n = in.get<uint32_t>();
      const auto have_fd = in.get<uint8_t>();
      if (n == 0 || n > (1u << 20)) {
        return Reply::error(EINVAL);
      }
      std::vector<int32_t> errs(n);
      std::vector<uint64_t> pages(n);
      for (uint32_t i = 0; i < n; ++i) {
        auto it = d->p2m.find(in.get<uint64_t>());
        if (it == d->p2m.end()) {
          errs[i] = -EINVAL;  // p2m_add_foreign refuses a hole
        } else {
          pages[i] = it->second;
        }
      }
      w.bytes({reinterpret_cast<const uint8_t*>(errs.data()), n * sizeof(int32_t)});
      w.bytes({reinterpret_cast<const uint8_t*>(pages.data()), n * sizeof(uint64_t)});
      r = ok_with(w);
      take_ref();
      if (have_fd == 0) {
        r.fds.push_back(dup_fd(d->memfd.get()));
      }
      return r;
    }
    case Op::xenforeignmemory_map_resource:
    case Op::xenforeignmemory_resource_size: {
      const auto type = in.get<uint32_t>();
      const auto id = in.get<uint32_t>();
      const uint64_t max_frames = 1 + (d->nr_vcpus * sizeof(ioreq_t) + kPage - 1) / kPage;
      if (type != XENMEM_resource_ioreq_server) {
        return Reply::error(EOPNOTSUPP);
      }
      auto it = d->servers.find(static_cast<uint16_t>(id));
      if (it == d->servers.end()) {
        return Reply::error(ENOENT);
      }
      IoreqServer& s = *it->second;
      if (op == Op::xenforeignmemory_resource_size) {
        w.put(max_frames * kPage);
        return ok_with(w);
      }
      const auto frame = in.get<uint64_t>();
      const auto nr = in.get<uint64_t>();
      const auto have_fd = in.get<uint8_t>();
      if (nr == 0 || frame >= max_frames || nr > max_frames - frame) {
        return Reply::error(EINVAL);
      }
      if (s.mode == PageMode::legacy) {
        return Reply::error(EPERM);  // gfns were handed out already
      }
      std::vector<uint64_t> pages;
      for (uint64_t f = frame; f < frame + nr; ++f) {
        if (f == XENMEM_resource_ioreq_server_frame_bufioreq) {
          if (s.bufioreq_handling == HVM_IOREQSRV_BUFIOREQ_OFF) {
            return Reply::error(ENOENT);
          }
          pages.push_back(s.buf_page);
        } else {
          pages.push_back(s.ioreq_page);
        }
      }
      s.mode = PageMode::resource;
      w.bytes({reinterpret_cast<const uint8_t*>(pages.data()), pages.size() * sizeof(uint64_t)});
      r = ok_with(w);
      take_ref();
      if (have_fd == 0) {
        r.fds.push_back(dup_fd(d->memfd.get()));
      }
      return r;
    }
    default:
      return Reply::error(ENOSYS);
  }
}

// ---- domctls (libxenctrl) ----

Reply HostImpl::op_ctrl(Lock& lk, Op op, Reader& in) {
  (void)lk;
  Writer w;
  if (op == Op::xc_domain_getinfo || op == Op::xc_domain_getinfolist) {
    const auto first = in.get<uint32_t>();
    const auto max = in.get<uint32_t>();
    std::vector<DomainInfo> out;
    if (first == 0 && max > 0) {
      DomainInfo dom0;
      dom0.state = DomainState::running;
      dom0.nr_vcpus = 1;
      out.push_back(dom0);
    }
    for (auto it = domains_.lower_bound(static_cast<uint16_t>(std::max<uint32_t>(first, 1)));
         it != domains_.end() && out.size() < max && first <= 0xffff; ++it) {
      out.push_back(info_of(*it->second));
    }
    w.put<uint32_t>(out.size());
    for (const auto& i : out) {
      w.put(i);
    }
    return ok_with(w);
  }
  const auto domid = in.get<uint32_t>();
  auto d = domid > 0xffff ? nullptr : find(static_cast<uint16_t>(domid));
  if (!d) {
    return Reply::error(ESRCH);
  }
  // A dying domain is only listed (getinfo) and may be destroyed again (a no-op).
  if (d->killed() && op != Op::xc_domain_destroy) {
    return Reply::error(ESRCH);
  }
  switch (op) {
    case Op::xc_domain_pause:
      if (d->state == DomainState::running) {
        d->state = DomainState::paused;
      }
      return {};
    case Op::xc_domain_unpause:
      if (d->state == DomainState::paused) {
        d->state = DomainState::running;
      }
      d->state_cv.notify_all();
      return {};
    case Op::xc_domain_destroy:
      destroy_domain(d);
      return {};
    case Op::xc_domain_shutdown: {
      shut_down(*d, in.get<uint32_t>(), "xc_domain_shutdown(crash)");
      return {};
    }
    case Op::xc_domain_max_vcpus: {
      const auto n = in.get<uint32_t>();
      return n == d->nr_vcpus ? Reply{} : Reply::error(EINVAL);
    }
    case Op::xc_domain_setmaxmem: {
      const auto kb = in.get<uint64_t>();
      d->max_pages = kb / 4;
      return {};
    }
    case Op::xc_domain_populate_physmap_exact:
    case Op::xc_domain_decrease_reservation_exact: {
      const auto order = in.get<uint32_t>();
      const auto n = in.get<uint32_t>();
      if (order > 9 || n > (1u << 20)) {
        return Reply::error(EINVAL);
      }
      for (uint32_t i = 0; i < n; ++i) {
        const auto gfn = in.get<uint64_t>();
        for (uint64_t j = 0; j < (uint64_t{1} << order); ++j) {
          if (op == Op::xc_domain_populate_physmap_exact) {
            if (populate(*d, gfn + j) != 0) {
              return Reply::error(EBUSY);  // partial: _exact says EBUSY
            }
          } else {
            if (!d->p2m.contains(gfn + j)) {
              return Reply::error(EINVAL);
            }
            remove_gfn(*d, gfn + j);
          }
        }
      }
      return {};
    }
    case Op::xc_domain_remove_from_physmap: {
      const auto gfn = in.get<uint64_t>();
      if (!d->p2m.contains(gfn)) {
        return Reply::error(EINVAL);
      }
      remove_gfn(*d, gfn);
      return {};
    }
    case Op::xc_hvm_param_get: {
      const auto param = in.get<uint32_t>();
      if (param >= HVM_NR_PARAMS) {
        return Reply::error(EINVAL);
      }
      w.put(d->hvm_params[param]);
      return ok_with(w);
    }
    case Op::xc_hvm_param_set: {
      const auto param = in.get<uint32_t>();
      const auto value = in.get<uint64_t>();
      if (param >= HVM_NR_PARAMS) {
        return Reply::error(EINVAL);
      }
      d->hvm_params[param] = value;
      return {};
    }
    default:
      return Reply::error(ENOSYS);
  }
}

// ---- xenstore ----

Reply HostImpl::op_store(Session& s, SessionState& ss, Op op, Reader& in) {
  const std::string path = in.str();
  if (path.empty() || path.front() != '/' || path.size() > 3072) {
    return Reply::error(EINVAL);
  }
  Writer w;
  switch (op) {
    case Op::xs_read: {
      auto v = xenstore_.read(path);
      if (!v) {
        return Reply::error(ENOENT);
      }
      w.str(*v);
      return ok_with(w);
    }
    case Op::xs_write:
      xenstore_.write(path, in.str());
      return {};
    case Op::xs_mkdir:
      if (!xenstore_.read(path)) {
        xenstore_.write(path, "");
      }
      return {};
    case Op::xs_rm:
      return xenstore_.rm(path) ? Reply{} : Reply::error(ENOENT);
    case Op::xs_directory: {
      auto v = xenstore_.directory(path);
      if (!v) {
        return Reply::error(ENOENT);
      }
      w.put<uint32_t>(v->size());
      for (const auto& e : *v) {
        w.str(e);
      }
      return ok_with(w);
    }
    case Op::xs_watch: {
      const std::string token = in.str();
      const int fd = ss.event_wr.get();
      xenstore_.watch(&s, path, token, [fd](const std::string& p, const std::string& t) {
        Writer ev;
        ev.str(p).str(t);
        [[maybe_unused]] auto n = ::send(fd, ev.data().data(), ev.data().size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      });
      return {};
    }
    case Op::xs_unwatch:
      return xenstore_.unwatch(&s, path, in.str()) ? Reply{} : Reply::error(ENOENT);
    default:
      return Reply::error(ENOSYS);
  }
}

// ---- guest side and control ----

Reply HostImpl::op_guest(Lock& lk, Op op, Reader& in) {
  Writer w;
  switch (op) {
    case Op::guest_create_domain: {
      const auto vcpus = in.get<uint32_t>();
      const auto ram = in.get<uint64_t>();
      const auto paused = in.get<uint8_t>();
      const auto want_domid = in.get<uint16_t>();
      const auto handle = in.get<std::array<uint8_t, 16>>();
      uint16_t id = 0;
      if (int rc = create_domain(vcpus, ram, paused != 0, want_domid, handle, &id); rc != 0) {
        return Reply::error(-rc);
      }
      w.put(id);
      return ok_with(w);
    }
    case Op::guest_list_domains: {
      w.put<uint32_t>(domains_.size());
      for (const auto& [id, d] : domains_) {
        w.put(info_of(*d));
      }
      return ok_with(w);
    }
    case Op::control_inject_failure: {
      const std::string name = in.str();
      const auto err = in.get<int32_t>();
      const auto nth = in.get<uint64_t>();
      const auto sticky = in.get<uint8_t>();
      if (err <= 0 || nth == 0) {
        return Reply::error(EINVAL);
      }
      failures.add(name, FailureRule{err, nth, sticky != 0});
      return {};
    }
    case Op::control_clear_failures:
      failures.clear();
      return {};
    case Op::control_set_hang_timeout:
      opts_.hang_timeout = std::chrono::milliseconds(in.get<uint64_t>());
      return {};
    case Op::control_shutdown_daemon:
      shutdown = true;
      return {};
    default:
      break;
  }
  const auto domid = in.get<uint16_t>();
  auto d = find(domid);
  if (!d) {
    return Reply::error(ESRCH);
  }
  // A dying domain runs nothing and its memory is being relinquished: only its status
  // and what it signalled before dying remain visible.
  if (d->killed() && op != Op::guest_destroy_domain && op != Op::guest_status && op != Op::guest_msis &&
      op != Op::guest_wait_msis && op != Op::guest_intx && op != Op::guest_wait_intx &&
      op != Op::guest_modified_pages) {
    return Reply::error(ESRCH);
  }
  switch (op) {
    case Op::guest_destroy_domain:
      destroy_domain(d);
      return {};
    case Op::guest_pause:
      if (d->state == DomainState::running) {
        d->state = DomainState::paused;
      }
      return {};
    case Op::guest_unpause:
      if (d->state == DomainState::paused) {
        d->state = DomainState::running;
      }
      d->state_cv.notify_all();
      return {};
    case Op::guest_access: {
      const auto vcpu = in.get<uint32_t>();
      const auto a = in.get<Access>();
      w.put(access(lk, d, vcpu, a));
      return ok_with(w);
    }
    case Op::guest_time_offset: {
      const auto delta = in.get<int64_t>();
      ioreq_t p{};
      p.type = IOREQ_TYPE_TIMEOFFSET;
      p.size = 8;
      p.count = 1;
      p.dir = IOREQ_WRITE;
      p.data = static_cast<uint64_t>(delta);
      uint32_t sent = 0;
      // send_timeoffset_req: nothing for a zero offset; a full ring loses the update.
      for (auto& [id, s] : d->servers) {
        if (delta != 0 && s->enabled && send_buffered(*d, *s, p)) {
          ++sent;
        }
      }
      w.put(sent);
      return ok_with(w);
    }
    case Op::guest_remove_memory: {
      const auto vcpu = in.get<uint32_t>();
      const auto gfn = in.get<uint64_t>();
      const auto n = in.get<uint64_t>();
      if (vcpu >= d->nr_vcpus || n > (1u << 20)) {
        return Reply::error(EINVAL);
      }
      for (uint64_t i = 0; i < n; ++i) {
        remove_gfn(*d, gfn + i);
      }
      // The vCPU that made the hypercall broadcasts INVALIDATE before returning to the guest.
      AccessResult r;
      d->state_cv.wait(lk, [&] { return d->state != DomainState::paused; });
      if (d->mapcache_invalidate && d->alive()) {
        Vcpu& v = *d->vcpus[vcpu];
        if (v.busy) {
          return Reply::error(EBUSY);
        }
        v.busy = true;
        r.status = invalidate_broadcast(lk, d, vcpu);
        v.busy = false;
      }
      w.put(r);
      return ok_with(w);
    }
    case Op::guest_read_ram: {
      const auto gpa = in.get<uint64_t>();
      const auto len = in.get<uint64_t>();
      if (len > (16u << 20)) {
        return Reply::error(EINVAL);
      }
      std::vector<uint8_t> buf(len);
      if (!copy_from_guest(*d, gpa, buf.data(), len)) {
        return Reply::error(EFAULT);
      }
      w.bytes(buf);
      return ok_with(w);
    }
    case Op::guest_write_ram: {
      const auto gpa = in.get<uint64_t>();
      const auto data = in.bytes();
      if (!copy_to_guest(*d, gpa, data.data(), data.size())) {
        return Reply::error(EFAULT);
      }
      return {};
    }
    case Op::guest_map_ram: {
      const auto gfn = in.get<uint64_t>();
      const auto n = in.get<uint64_t>();
      const auto have_fd = in.get<uint8_t>();
      if (n == 0 || n > (1u << 20)) {
        return Reply::error(EINVAL);
      }
      std::vector<uint64_t> pages(n);
      for (uint64_t i = 0; i < n; ++i) {
        auto it = d->p2m.find(gfn + i);
        if (it == d->p2m.end()) {
          return Reply::error(EFAULT);
        }
        pages[i] = it->second;
      }
      w.bytes({reinterpret_cast<const uint8_t*>(pages.data()), n * sizeof(uint64_t)});
      Reply r = ok_with(w);
      if (have_fd == 0) {
        r.fds.push_back(dup_fd(d->memfd.get()));
      }
      return r;
    }
    case Op::guest_status: {
      w.put(info_of(*d));
      w.str(d->crash_reason);
      w.put<uint32_t>(d->hung.size());
      const auto now_hung = d->hung;
      for (const auto& [v, h] : now_hung) {
        w.put(h);
      }
      w.put(d->hung_reports).put(d->ioreqs).put(d->unclaimed);
      return ok_with(w);
    }
    case Op::guest_msis: {
      const auto from = in.get<uint32_t>();
      w.put<uint32_t>(d->msis.size());
      const uint32_t n = from < d->msis.size() ? static_cast<uint32_t>(d->msis.size()) - from : 0;
      w.put(n);
      for (uint32_t i = 0; i < n; ++i) {
        w.put(d->msis[from + i]);
      }
      return ok_with(w);
    }
    case Op::guest_wait_msis: {
      const auto count = in.get<uint32_t>();
      const auto timeout = in.get<uint32_t>();
      const bool got = d->msi_cv.wait_for(lk, std::chrono::milliseconds(timeout),
                                          [&] { return d->msis.size() >= count || d->killed(); });
      w.put<uint32_t>(d->msis.size());
      Reply r = ok_with(w);
      if (!got || d->msis.size() < count) {
        r.rc = -1;
        r.err = ETIMEDOUT;
      }
      return r;
    }
    case Op::guest_intx: {
      const auto sbdf = in.get<uint32_t>();
      const auto pin = in.get<uint8_t>();
      auto it = d->intx.find((static_cast<uint64_t>(sbdf) << 8) | pin);
      w.put(it == d->intx.end() ? 0u : it->second);
      return ok_with(w);
    }
    case Op::guest_wait_intx: {
      const auto sbdf = in.get<uint32_t>();
      const auto pin = in.get<uint8_t>();
      const auto level = in.get<uint32_t>();
      const auto timeout = in.get<uint32_t>();
      const uint64_t key = (static_cast<uint64_t>(sbdf) << 8) | pin;
      const auto now_level = [&] {
        auto it = d->intx.find(key);
        return it == d->intx.end() ? 0u : it->second;
      };
      const bool got = d->msi_cv.wait_for(lk, std::chrono::milliseconds(timeout),
                                          [&] { return now_level() == level || d->killed(); });
      return got && now_level() == level ? Reply{} : Reply::error(ETIMEDOUT);
    }
    case Op::guest_modified_pages: {
      w.put<uint32_t>(d->modified.size());
      for (uint64_t g : d->modified) {
        w.put(g);
      }
      return ok_with(w);
    }
    default:
      return Reply::error(ENOSYS);
  }
}

}  // namespace xensim
