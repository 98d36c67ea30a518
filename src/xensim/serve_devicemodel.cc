// The server side of libxendevicemodel: ioreq servers, their ranges and state, interrupts,
// dirty tracking and memory ops, with the dm_op semantics of xen/arch/x86/hvm/dm.c and
// xen/common/ioreq.c. Each op returns the library's convention.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/serve_common.h"

namespace xensim {

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
      if (n > 1024) {
        return Reply::error(EINVAL);
      }
      // As Xen's dm.c: nothing is checked or recorded unless log-dirty is on, and an extent
      // must end (exclusive) at or below the highest mapped gfn, so that gfn itself cannot be
      // reported.
      if (!d->log_dirty) {
        return {};
      }
      for (uint32_t i = 0; i < n; ++i) {
        const auto first = in.get<uint64_t>();
        const auto nr = in.get<uint32_t>();
        const auto pad = in.get<uint32_t>();
        const uint64_t end = first + nr;
        if (pad != 0 || end <= first || end > d->max_mapped_gfn) {
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
        d->note_mapped(dst + i);
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

}  // namespace xensim
