// The echo ioreq server (see echo_server.h). Only Xen C API calls; no xensim header.
#include "echo_server.h"

#include <poll.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

extern "C" {
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xentoolcore.h>
}

namespace echo {
namespace {

struct Key {
  uint8_t type;
  uint64_t addr;
  bool operator==(const Key&) const = default;
};
struct KeyHash {
  size_t operator()(const Key& k) const { return std::hash<uint64_t>{}(k.addr * 31 + k.type); }
};

class Server {
 public:
  Server(const Options& o, Stats* s) : opt_(o), stats_(s) {}
  ~Server() { teardown(); }

  bool setup(std::string* err) {
    dmod_ = xendevicemodel_open(nullptr, 0);
    fmem_ = xenforeignmemory_open(nullptr, 0);
    xce_ = xenevtchn_open(nullptr, 0);
    if (dmod_ == nullptr || fmem_ == nullptr || xce_ == nullptr) return fail(err, "open handles");
    if (xendevicemodel_nr_vcpus(dmod_, opt_.domid, &nr_vcpus_) < 0) return fail(err, "nr_vcpus");
    if (xendevicemodel_create_ioreq_server(dmod_, opt_.domid, opt_.bufioreq, &id_) < 0)
      return fail(err, "create_ioreq_server");
    created_ = true;
    evtchn_port_t bufport = 0;
    if (opt_.legacy) {
      xen_pfn_t gfn = 0, bufgfn = 0;
      if (xendevicemodel_get_ioreq_server_info(dmod_, opt_.domid, id_, &gfn, &bufgfn, &bufport) < 0)
        return fail(err, "get_ioreq_server_info");
      iopage_ = xenforeignmemory_map(fmem_, opt_.domid, PROT_READ | PROT_WRITE, 1, &gfn, nullptr);
      if (iopage_ == nullptr) return fail(err, "map ioreq gfn");
      if (opt_.bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF) {
        bufpage_ = xenforeignmemory_map(fmem_, opt_.domid, PROT_READ | PROT_WRITE, 1, &bufgfn, nullptr);
        if (bufpage_ == nullptr) return fail(err, "map bufioreq gfn");
      }
    } else {
      if (opt_.bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF) {
        void* addr = nullptr;
        fres_ = xenforeignmemory_map_resource(fmem_, opt_.domid, XENMEM_resource_ioreq_server, id_, 0, 2,
                                              &addr, PROT_READ | PROT_WRITE, 0);
        if (fres_ == nullptr) return fail(err, "map_resource");
        bufpage_ = addr;
        iopage_ = static_cast<char*>(addr) + 4096;
      } else {
        void* addr = nullptr;
        fres_ = xenforeignmemory_map_resource(fmem_, opt_.domid, XENMEM_resource_ioreq_server, id_,
                                              XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr,
                                              PROT_READ | PROT_WRITE, 0);
        if (fres_ == nullptr) return fail(err, "map_resource");
        iopage_ = addr;
      }
      if (xendevicemodel_get_ioreq_server_info(dmod_, opt_.domid, id_, nullptr, nullptr, &bufport) < 0)
        return fail(err, "get_ioreq_server_info(port)");
    }
    if (xendevicemodel_map_io_range_to_ioreq_server(dmod_, opt_.domid, id_, 0, kPortFirst, kPortLast) < 0 ||
        xendevicemodel_map_io_range_to_ioreq_server(dmod_, opt_.domid, id_, 1, kMmioFirst, kMmioLast) < 0 ||
        xendevicemodel_map_pcidev_to_ioreq_server(dmod_, opt_.domid, id_, 0, kPciBus, kPciDev, kPciFn) < 0)
      return fail(err, "claim ranges");
    if (opt_.claim_low_port &&
        (xendevicemodel_map_io_range_to_ioreq_server(dmod_, opt_.domid, id_, 0, 0x80, 0x80) < 0 ||
         xendevicemodel_map_io_range_to_ioreq_server(dmod_, opt_.domid, id_, 1, 0xa0000, 0xbffff) < 0))
      return fail(err, "claim low ranges");
    if (xendevicemodel_set_ioreq_server_state(dmod_, opt_.domid, id_, 1) < 0) return fail(err, "enable");
    auto* page = static_cast<ioreq_t*>(iopage_);
    for (unsigned v = 0; v < nr_vcpus_; ++v) {
      const int local = xenevtchn_bind_interdomain(xce_, opt_.domid, page[v].vp_eport);
      if (local < 0) return fail(err, "bind vcpu port");
      port_to_vcpu_[static_cast<evtchn_port_t>(local)] = static_cast<int>(v);
      vcpu_port_.push_back(static_cast<evtchn_port_t>(local));
    }
    if (opt_.bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF) {
      const int local = xenevtchn_bind_interdomain(xce_, opt_.domid, bufport);
      if (local < 0) return fail(err, "bind buffered port");
      buf_local_ = static_cast<evtchn_port_t>(local);
    }
    if (opt_.restrict_all && xentoolcore_restrict_all(opt_.domid) < 0) return fail(err, "restrict_all");
    return true;
  }

  void loop(std::atomic<bool>* stop) {
    pollfd pfd{xenevtchn_fd(xce_), POLLIN, 0};
    while (!stop->load()) {
      const int n = ::poll(&pfd, 1, 20);
      if (n <= 0) continue;
      const int port = xenevtchn_pending(xce_);
      if (port < 0) continue;
      xenevtchn_unmask(xce_, static_cast<evtchn_port_t>(port));
      if (static_cast<evtchn_port_t>(port) == buf_local_ && bufpage_ != nullptr) {
        drain_buffered();
        continue;
      }
      auto it = port_to_vcpu_.find(static_cast<evtchn_port_t>(port));
      if (it == port_to_vcpu_.end()) continue;
      drain_buffered();  // buffered writes precede later synchronous accesses
      handle_slot(it->second);
    }
  }

 private:
  bool fail(std::string* err, const char* what) {
    *err = std::string(what) + ": " + std::strerror(errno);
    return false;
  }

  void teardown() {
    if (created_) {
      xendevicemodel_set_ioreq_server_state(dmod_, opt_.domid, id_, 0);
      for (auto p : vcpu_port_) xenevtchn_unbind(xce_, p);
      if (fres_ != nullptr) xenforeignmemory_unmap_resource(fmem_, fres_);
      if (opt_.legacy) {
        if (iopage_ != nullptr) xenforeignmemory_unmap(fmem_, iopage_, 1);
        if (bufpage_ != nullptr) xenforeignmemory_unmap(fmem_, bufpage_, 1);
      }
      xendevicemodel_destroy_ioreq_server(dmod_, opt_.domid, id_);
    }
    if (xce_ != nullptr) xenevtchn_close(xce_);
    if (fmem_ != nullptr) xenforeignmemory_close(fmem_);
    if (dmod_ != nullptr) xendevicemodel_close(dmod_);
  }

  uint64_t read_dev(uint8_t type, uint64_t addr, uint32_t size) {
    auto it = regs_.find(Key{type, addr});
    const uint64_t mask = size >= 8 ? ~0ull : (uint64_t{1} << (size * 8)) - 1;
    return (it == regs_.end() ? echo_default(type, addr, size) : it->second) & mask;
  }
  void write_dev(uint8_t type, uint64_t addr, uint64_t v) { regs_[Key{type, addr}] = v; }

  void drain_buffered() {
    auto* pg = static_cast<buffered_iopage_t*>(bufpage_);
    if (pg == nullptr) return;
    for (;;) {
      const uint32_t rp = __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
      const uint32_t wp = __atomic_load_n(&pg->write_pointer, __ATOMIC_ACQUIRE);
      if (rp == wp) return;
      const buf_ioreq_t b = pg->buf_ioreq[rp % IOREQ_BUFFER_SLOT_NUM];
      uint64_t data = b.data;
      uint32_t used = 1;
      if (b.size == 3) {
        data |= uint64_t{pg->buf_ioreq[(rp + 1) % IOREQ_BUFFER_SLOT_NUM].data} << 32;
        used = 2;
      }
      if (b.type == IOREQ_TYPE_TIMEOFFSET) {
        stats_->timeoffsets++;
        stats_->last_timeoffset = static_cast<int64_t>(data);
      } else {
        stats_->buffered++;
        write_dev(b.type, b.addr, data);
      }
      __atomic_fetch_add(&pg->read_pointer, used, __ATOMIC_RELEASE);
    }
  }

  void handle_slot(int vcpu) {
    auto* slot = static_cast<ioreq_t*>(iopage_) + vcpu;
    // The state byte is shared with Xen: atomic accesses only (acquire: the request before it).
    auto* state = reinterpret_cast<uint8_t*>(slot) + 30;
    const uint8_t flags = __atomic_load_n(state, __ATOMIC_ACQUIRE);
    if (flags % 16 != STATE_IOREQ_READY) return;
    ioreq_t req;
    std::memcpy(&req, slot, sizeof req);  // copy once
    __atomic_store_n(state, static_cast<uint8_t>((flags & 0xf0) | STATE_IOREQ_INPROCESS), __ATOMIC_RELAXED);
    stats_->ioreqs++;
    uint64_t answer = req.data;
    switch (req.type) {
      case IOREQ_TYPE_INVALIDATE:
        stats_->invalidates++;
        break;
      case IOREQ_TYPE_PIO:
      case IOREQ_TYPE_COPY:
      case IOREQ_TYPE_PCI_CONFIG:
        if (req.data_is_ptr) {
          rep(req);
        } else if (req.dir == IOREQ_READ) {
          answer = read_dev(req.type, req.addr, req.size);
        } else {
          // rep stos (count > 1, no pointer) writes the same value to each element.
          for (uint32_t i = 0; i < req.count; ++i) write_dev(req.type, elem_addr(req, i), req.data);
        }
        break;
      default:
        stats_->errors++;
        break;
    }
    __atomic_store_n(&slot->data, answer, __ATOMIC_RELAXED);
    // Release: the data before the state.
    __atomic_store_n(state, static_cast<uint8_t>((flags & 0xf0) | STATE_IORESP_READY), __ATOMIC_RELEASE);
    xenevtchn_notify(xce_, vcpu_port_[static_cast<size_t>(vcpu)]);
  }

  static uint64_t elem_addr(const ioreq_t& r, uint32_t i) {
    if (r.type != IOREQ_TYPE_COPY) return r.addr;  // a port / config register does not advance
    return r.df ? r.addr - uint64_t{i} * r.size : r.addr + uint64_t{i} * r.size;
  }

  void rep(const ioreq_t& r) {
    if (r.size == 0 || r.size > 8 || r.count == 0 || r.count > 4096) {
      stats_->errors++;
      return;
    }
    const uint64_t span = uint64_t{r.count} * r.size;
    const uint64_t lo = r.df ? r.data - (span - r.size) : r.data;
    const uint64_t first = lo >> 12, last = (lo + span - 1) >> 12;
    std::vector<xen_pfn_t> gfns;
    for (uint64_t g = first; g <= last; ++g) gfns.push_back(g);
    std::vector<int> errs(gfns.size());
    auto* m = static_cast<uint8_t*>(xenforeignmemory_map(fmem_, opt_.domid, PROT_READ | PROT_WRITE,
                                                         gfns.size(), gfns.data(), errs.data()));
    if (m == nullptr) {
      stats_->errors++;
      return;
    }
    bool ok = true;
    for (int e : errs) ok = ok && e == 0;
    if (ok) {
      for (uint32_t i = 0; i < r.count; ++i) {
        const uint64_t buf =
            (r.df ? r.data - uint64_t{i} * r.size : r.data + uint64_t{i} * r.size) - (first << 12);
        if (r.dir == IOREQ_WRITE) {
          uint64_t v = 0;
          std::memcpy(&v, m + buf, r.size);
          write_dev(r.type, elem_addr(r, i), v);
        } else {
          const uint64_t v = read_dev(r.type, elem_addr(r, i), r.size);
          std::memcpy(m + buf, &v, r.size);
        }
      }
    } else {
      stats_->errors++;
    }
    xenforeignmemory_unmap(fmem_, m, gfns.size());
  }

  Options opt_;
  Stats* stats_;
  xendevicemodel_handle* dmod_ = nullptr;
  xenforeignmemory_handle* fmem_ = nullptr;
  xenevtchn_handle* xce_ = nullptr;
  xenforeignmemory_resource_handle* fres_ = nullptr;
  unsigned nr_vcpus_ = 0;
  ioservid_t id_ = 0;
  bool created_ = false;
  void* iopage_ = nullptr;
  void* bufpage_ = nullptr;
  evtchn_port_t buf_local_ = ~0u;
  std::unordered_map<evtchn_port_t, int> port_to_vcpu_;
  std::vector<evtchn_port_t> vcpu_port_;
  std::unordered_map<Key, uint64_t, KeyHash> regs_;
};

}  // namespace

bool run(const Options& opt, std::atomic<bool>* stop, std::atomic<bool>* ready, Stats* stats,
         std::string* error) {
  Server s(opt, stats);
  if (!s.setup(error)) return false;
  ready->store(true);
  s.loop(stop);
  return true;
}

}  // namespace echo
