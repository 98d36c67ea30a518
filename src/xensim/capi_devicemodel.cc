// libxendevicemodel (xendevicemodel.h, Xen 4.17) on xensim: each call is one dm_op.
#include <cerrno>
#include <cstring>
#include <memory>

extern "C" {
#include <xendevicemodel.h>
}
#include "xensim/capi_common.h"
#include "xensim/capi_handle.h"
#include "xensim/toolcore_internal.h"

using xensim::Op;
using xensim::Writer;

struct xendevicemodel_handle {
  Xentoolcore__Active_Handle tc_ah{};  // first: restrict_all finds us through it
  std::unique_ptr<xensim::Transport> t;
};

namespace {

int restrict_cb(Xentoolcore__Active_Handle* ah, domid_t domid) {
  return xendevicemodel_restrict(reinterpret_cast<xendevicemodel_handle*>(ah), domid);
}

int simple(xendevicemodel_handle* h, Op op, const Writer& w) {
  if (h == nullptr) {
    errno = EBADF;
    return -1;
  }
  return xensim::call_rc(*h->t, op, w) < 0 ? -1 : 0;
}

Writer dom(domid_t domid) {
  Writer w;
  w.put<uint16_t>(domid);
  return w;
}

}  // namespace

extern "C" {

xendevicemodel_handle* xendevicemodel_open(struct xentoollog_logger* /*logger*/,
                                           unsigned int /*open_flags*/) {
  XENSIM_INJECT("xendevicemodel_open", nullptr);
  auto h = xensim::new_handle<xendevicemodel_handle>(xensim::SessionKind::devicemodel);
  return h ? xensim::register_handle(std::move(h), restrict_cb) : nullptr;
}

int xendevicemodel_close(xendevicemodel_handle* dmod) {
  return xensim::close_handle(dmod);
}

int xendevicemodel_restrict(xendevicemodel_handle* dmod, domid_t domid) {
  XENSIM_INJECT("xendevicemodel_restrict", -1);
  return simple(dmod, Op::xendevicemodel_restrict, dom(domid));
}

int xendevicemodel_create_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, int handle_bufioreq,
                                       ioservid_t* id) {
  XENSIM_INJECT("xendevicemodel_create_ioreq_server", -1);
  if (dmod == nullptr) {
    return errno = EBADF, -1;
  }
  Writer w = dom(domid);
  w.put<int32_t>(handle_bufioreq);
  xensim::Reply r;
  if (xensim::call_rc(*dmod->t, Op::xendevicemodel_create_ioreq_server, w, &r) < 0) {
    return -1;
  }
  xensim::Reader in(r.data);
  *id = in.get<uint16_t>();
  return 0;
}

int xendevicemodel_get_ioreq_server_info(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                         xen_pfn_t* ioreq_gfn, xen_pfn_t* bufioreq_gfn,
                                         evtchn_port_t* bufioreq_port) {
  XENSIM_INJECT("xendevicemodel_get_ioreq_server_info", -1);
  if (dmod == nullptr) {
    return errno = EBADF, -1;
  }
  Writer w = dom(domid);
  // As libxendevicemodel: no gfns asked => XEN_DMOP_no_gfns, so nothing gets mapped.
  w.put<uint16_t>(id).put<uint8_t>(ioreq_gfn != nullptr || bufioreq_gfn != nullptr);
  xensim::Reply r;
  if (xensim::call_rc(*dmod->t, Op::xendevicemodel_get_ioreq_server_info, w, &r) < 0) {
    return -1;
  }
  xensim::Reader in(r.data);
  const auto ig = in.get<uint64_t>();
  const auto bg = in.get<uint64_t>();
  const auto bp = in.get<uint32_t>();
  if (ioreq_gfn != nullptr) {
    *ioreq_gfn = ig;
  }
  if (bufioreq_gfn != nullptr) {
    *bufioreq_gfn = bg;
  }
  if (bufioreq_port != nullptr) {
    *bufioreq_port = bp;
  }
  return 0;
}

static int range_op(xendevicemodel_handle* dmod, Op op, domid_t domid, ioservid_t id, uint32_t type,
                    uint64_t start, uint64_t end) {
  return simple(dmod, op, dom(domid).put<uint16_t>(id).put(type).put(start).put(end));
}

int xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                int is_mmio, uint64_t start, uint64_t end) {
  XENSIM_INJECT("xendevicemodel_map_io_range_to_ioreq_server", -1);
  return range_op(dmod, Op::xendevicemodel_map_io_range_to_ioreq_server, domid, id,
                  is_mmio ? XEN_DMOP_IO_RANGE_MEMORY : XEN_DMOP_IO_RANGE_PORT, start, end);
}

int xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                    int is_mmio, uint64_t start, uint64_t end) {
  XENSIM_INJECT("xendevicemodel_unmap_io_range_from_ioreq_server", -1);
  return range_op(dmod, Op::xendevicemodel_unmap_io_range_from_ioreq_server, domid, id,
                  is_mmio ? XEN_DMOP_IO_RANGE_MEMORY : XEN_DMOP_IO_RANGE_PORT, start, end);
}

int xendevicemodel_map_pcidev_to_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                              uint16_t segment, uint8_t bus, uint8_t device,
                                              uint8_t function) {
  XENSIM_INJECT("xendevicemodel_map_pcidev_to_ioreq_server", -1);
  const uint64_t sbdf = XEN_DMOP_PCI_SBDF(segment, bus, device, function);
  return range_op(dmod, Op::xendevicemodel_map_pcidev_to_ioreq_server, domid, id, XEN_DMOP_IO_RANGE_PCI, sbdf,
                  sbdf);
}

int xendevicemodel_unmap_pcidev_from_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                  uint16_t segment, uint8_t bus, uint8_t device,
                                                  uint8_t function) {
  XENSIM_INJECT("xendevicemodel_unmap_pcidev_from_ioreq_server", -1);
  const uint64_t sbdf = XEN_DMOP_PCI_SBDF(segment, bus, device, function);
  return range_op(dmod, Op::xendevicemodel_unmap_pcidev_from_ioreq_server, domid, id, XEN_DMOP_IO_RANGE_PCI,
                  sbdf, sbdf);
}

int xendevicemodel_map_mem_type_to_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                uint16_t type, uint32_t flags) {
  XENSIM_INJECT("xendevicemodel_map_mem_type_to_ioreq_server", -1);
  return simple(dmod, Op::xendevicemodel_map_mem_type_to_ioreq_server,
                dom(domid).put<uint16_t>(id).put(type).put(flags));
}

int xendevicemodel_destroy_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id) {
  XENSIM_INJECT("xendevicemodel_destroy_ioreq_server", -1);
  return simple(dmod, Op::xendevicemodel_destroy_ioreq_server, dom(domid).put<uint16_t>(id));
}

int xendevicemodel_set_ioreq_server_state(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                          int enabled) {
  XENSIM_INJECT("xendevicemodel_set_ioreq_server_state", -1);
  return simple(dmod, Op::xendevicemodel_set_ioreq_server_state,
                dom(domid).put<uint16_t>(id).put<int32_t>(enabled));
}

int xendevicemodel_set_pci_intx_level(xendevicemodel_handle* dmod, domid_t domid, uint16_t segment,
                                      uint8_t bus, uint8_t device, uint8_t intx, unsigned int level) {
  XENSIM_INJECT("xendevicemodel_set_pci_intx_level", -1);
  return simple(dmod, Op::xendevicemodel_set_pci_intx_level,
                dom(domid).put(segment).put(bus).put(device).put(intx).put<uint32_t>(level));
}

int xendevicemodel_set_isa_irq_level(xendevicemodel_handle* dmod, domid_t domid, uint8_t irq,
                                     unsigned int level) {
  XENSIM_INJECT("xendevicemodel_set_isa_irq_level", -1);
  return simple(dmod, Op::xendevicemodel_set_isa_irq_level, dom(domid).put(irq).put<uint32_t>(level));
}

int xendevicemodel_set_irq_level(xendevicemodel_handle* dmod, domid_t domid, unsigned int irq,
                                 unsigned int level) {
  XENSIM_INJECT("xendevicemodel_set_irq_level", -1);
  return simple(dmod, Op::xendevicemodel_set_irq_level, dom(domid).put<uint32_t>(irq).put<uint32_t>(level));
}

int xendevicemodel_set_pci_link_route(xendevicemodel_handle* dmod, domid_t domid, uint8_t link, uint8_t irq) {
  XENSIM_INJECT("xendevicemodel_set_pci_link_route", -1);
  return simple(dmod, Op::xendevicemodel_set_pci_link_route, dom(domid).put(link).put(irq));
}

int xendevicemodel_inject_msi(xendevicemodel_handle* dmod, domid_t domid, uint64_t msi_addr,
                              uint32_t msi_data) {
  XENSIM_INJECT("xendevicemodel_inject_msi", -1);
  return simple(dmod, Op::xendevicemodel_inject_msi, dom(domid).put(msi_addr).put(msi_data));
}

int xendevicemodel_track_dirty_vram(xendevicemodel_handle* dmod, domid_t domid, uint64_t first_pfn,
                                    uint32_t nr, unsigned long* dirty_bitmap) {
  XENSIM_INJECT("xendevicemodel_track_dirty_vram", -1);
  if (dmod == nullptr) {
    return errno = EBADF, -1;
  }
  Writer w = dom(domid);
  w.put(first_pfn).put(nr);
  xensim::Reply r;
  if (xensim::call_rc(*dmod->t, Op::xendevicemodel_track_dirty_vram, w, &r) < 0) {
    return -1;
  }
  xensim::Reader in(r.data);
  const auto bits = in.bytes();
  if (dirty_bitmap != nullptr && nr != 0) {
    std::memcpy(dirty_bitmap, bits.data(),
                std::min<size_t>(bits.size(), (nr + 63) / 64 * sizeof(unsigned long)));
  }
  return 0;
}

int xendevicemodel_modified_memory(xendevicemodel_handle* dmod, domid_t domid, uint64_t first_pfn,
                                   uint32_t nr) {
  XENSIM_INJECT("xendevicemodel_modified_memory", -1);
  return simple(dmod, Op::xendevicemodel_modified_memory, dom(domid).put(first_pfn).put(nr).put(uint32_t{0}));
}

int xendevicemodel_modified_memory_bulk(xendevicemodel_handle* dmod, domid_t domid,
                                        struct xen_dm_op_modified_memory_extent extents[], uint32_t nr) {
  XENSIM_INJECT("xendevicemodel_modified_memory_bulk", -1);
  Writer w = dom(domid);
  w.put(nr);
  for (uint32_t i = 0; i < nr; ++i) {
    w.put<uint64_t>(extents[i].first_pfn).put(extents[i].nr).put(extents[i].pad);
  }
  return simple(dmod, Op::xendevicemodel_modified_memory_bulk, w);
}

int xendevicemodel_set_mem_type(xendevicemodel_handle* dmod, domid_t domid, hvmmem_type_t mem_type,
                                uint64_t first_pfn, uint32_t nr) {
  XENSIM_INJECT("xendevicemodel_set_mem_type", -1);
  return simple(dmod, Op::xendevicemodel_set_mem_type,
                dom(domid).put<uint32_t>(mem_type).put(first_pfn).put(nr));
}

int xendevicemodel_inject_event(xendevicemodel_handle* dmod, domid_t domid, int vcpu, uint8_t vector,
                                uint8_t type, uint32_t error_code, uint8_t insn_len, uint64_t extra) {
  XENSIM_INJECT("xendevicemodel_inject_event", -1);
  return simple(dmod, Op::xendevicemodel_inject_event,
                dom(domid).put<int32_t>(vcpu).put(vector).put(type).put(error_code).put(insn_len).put(extra));
}

int xendevicemodel_shutdown(xendevicemodel_handle* dmod, domid_t domid, unsigned int reason) {
  XENSIM_INJECT("xendevicemodel_shutdown", -1);
  return simple(dmod, Op::xendevicemodel_shutdown, dom(domid).put<uint32_t>(reason));
}

int xendevicemodel_relocate_memory(xendevicemodel_handle* dmod, domid_t domid, uint32_t size,
                                   uint64_t src_gfn, uint64_t dst_gfn) {
  XENSIM_INJECT("xendevicemodel_relocate_memory", -1);
  return simple(dmod, Op::xendevicemodel_relocate_memory, dom(domid).put(size).put(src_gfn).put(dst_gfn));
}

int xendevicemodel_pin_memory_cacheattr(xendevicemodel_handle* dmod, domid_t domid, uint64_t start,
                                        uint64_t end, uint32_t type) {
  XENSIM_INJECT("xendevicemodel_pin_memory_cacheattr", -1);
  return simple(dmod, Op::xendevicemodel_pin_memory_cacheattr, dom(domid).put(start).put(end).put(type));
}

int xendevicemodel_nr_vcpus(xendevicemodel_handle* dmod, domid_t domid, unsigned int* vcpus) {
  XENSIM_INJECT("xendevicemodel_nr_vcpus", -1);
  if (dmod == nullptr) {
    return errno = EBADF, -1;
  }
  xensim::Reply r;
  if (xensim::call_rc(*dmod->t, Op::xendevicemodel_nr_vcpus, dom(domid), &r) < 0) {
    return -1;
  }
  xensim::Reader in(r.data);
  *vcpus = in.get<uint32_t>();
  return 0;
}

}  // extern "C"
