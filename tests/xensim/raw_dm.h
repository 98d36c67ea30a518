// A hand-driven device model for xensim's rule tests, written against the Xen C API only:
// the test decides what to answer (or not), so each hypervisor rule can be checked.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>

#include <cstring>
#include <optional>
#include <vector>

extern "C" {
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>
#include <xenctrl.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
}

class RawDm {
 public:
  RawDm(uint16_t domid, int bufioreq = HVM_IOREQSRV_BUFIOREQ_OFF) : domid_(domid), bufioreq_(bufioreq) {
    dmod = xendevicemodel_open(nullptr, 0);
    fmem = xenforeignmemory_open(nullptr, 0);
    xce = xenevtchn_open(nullptr, 0);
  }
  ~RawDm() {
    if (fres != nullptr) xenforeignmemory_unmap_resource(fmem, fres);
    xenevtchn_close(xce);
    xenforeignmemory_close(fmem);
    xendevicemodel_close(dmod);
  }
  RawDm(const RawDm&) = delete;
  RawDm& operator=(const RawDm&) = delete;

  // create + map (resource) + enable + bind; claims are left to the test.
  void start(bool enable = true) {
    ASSERT_EQ(xendevicemodel_create_ioreq_server(dmod, domid_, bufioreq_, &id), 0) << strerror(errno);
    unsigned n = 0;
    ASSERT_EQ(xendevicemodel_nr_vcpus(dmod, domid_, &n), 0);
    void* addr = nullptr;
    const bool buf = bufioreq_ != HVM_IOREQSRV_BUFIOREQ_OFF;
    fres = xenforeignmemory_map_resource(fmem, domid_, XENMEM_resource_ioreq_server, id,
                                         buf ? 0 : XENMEM_resource_ioreq_server_frame_ioreq(0), buf ? 2 : 1,
                                         &addr, PROT_READ | PROT_WRITE, 0);
    ASSERT_NE(fres, nullptr) << strerror(errno);
    if (buf) {
      bufpage = static_cast<buffered_iopage_t*>(addr);
      page = reinterpret_cast<ioreq_t*>(static_cast<char*>(addr) + 4096);
    } else {
      page = static_cast<ioreq_t*>(addr);
    }
    if (enable) {
      ASSERT_EQ(xendevicemodel_set_ioreq_server_state(dmod, domid_, id, 1), 0);
    }
    for (unsigned v = 0; v < n; ++v) {
      const int p = xenevtchn_bind_interdomain(xce, domid_, page[v].vp_eport);
      ASSERT_GE(p, 0) << strerror(errno);
      ports.push_back(static_cast<evtchn_port_t>(p));
    }
    if (buf) {
      evtchn_port_t bp = 0;
      ASSERT_EQ(xendevicemodel_get_ioreq_server_info(dmod, domid_, id, nullptr, nullptr, &bp), 0);
      const int p = xenevtchn_bind_interdomain(xce, domid_, bp);
      ASSERT_GE(p, 0);
      buf_port = static_cast<evtchn_port_t>(p);
    }
    drain_events();  // binding sets the new ports pending once
  }

  void claim_mmio(uint64_t s, uint64_t e) {
    ASSERT_EQ(xendevicemodel_map_io_range_to_ioreq_server(dmod, domid_, id, 1, s, e), 0);
  }
  void claim_port(uint64_t s, uint64_t e) {
    ASSERT_EQ(xendevicemodel_map_io_range_to_ioreq_server(dmod, domid_, id, 0, s, e), 0);
  }
  void claim_pci(uint8_t bus, uint8_t dev, uint8_t fn) {
    ASSERT_EQ(xendevicemodel_map_pcidev_to_ioreq_server(dmod, domid_, id, 0, bus, dev, fn), 0);
  }

  // The next port that fires (already unmasked), or nullopt after timeout_ms.
  std::optional<evtchn_port_t> next_event(int timeout_ms = 2000) {
    pollfd p{xenevtchn_fd(xce), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    const int port = xenevtchn_pending(xce);
    if (port < 0) return std::nullopt;
    xenevtchn_unmask(xce, static_cast<evtchn_port_t>(port));
    return static_cast<evtchn_port_t>(port);
  }
  void drain_events() {
    while (next_event(0)) {
    }
  }

  static uint8_t state(const ioreq_t* s) {
    return __atomic_load_n(reinterpret_cast<const uint8_t*>(s) + 30, __ATOMIC_ACQUIRE) & 0xf;
  }
  static void set_state(ioreq_t* s, uint8_t st) {
    auto* b = reinterpret_cast<uint8_t*>(s) + 30;
    __atomic_store_n(b, static_cast<uint8_t>((*b & 0xf0) | st), __ATOMIC_RELEASE);
  }

  // Waits for vCPU v's request; returns a copy of it (state left READY).
  std::optional<ioreq_t> wait_request(unsigned v, int timeout_ms = 2000) {
    for (;;) {
      if (state(&page[v]) == STATE_IOREQ_READY) {
        ioreq_t r;
        std::memcpy(&r, &page[v], sizeof r);
        return r;
      }
      if (!next_event(timeout_ms)) return std::nullopt;
    }
  }
  // The normal answer: INPROCESS, data, IORESP_READY, notify.
  void respond(unsigned v, uint64_t data, bool notify = true) {
    set_state(&page[v], STATE_IOREQ_INPROCESS);
    __atomic_store_n(&page[v].data, data, __ATOMIC_RELAXED);
    set_state(&page[v], STATE_IORESP_READY);  // release: the data before the state
    if (notify) xenevtchn_notify(xce, ports[v]);
  }
  // Answers the next request on v with f(req), returns the request.
  template <typename F>
  std::optional<ioreq_t> serve_one(unsigned v, F f) {
    auto r = wait_request(v);
    if (r) respond(v, f(*r));
    return r;
  }

  uint16_t domid_;
  int bufioreq_;
  xendevicemodel_handle* dmod = nullptr;
  xenforeignmemory_handle* fmem = nullptr;
  xenevtchn_handle* xce = nullptr;
  xenforeignmemory_resource_handle* fres = nullptr;
  ioservid_t id = 0;
  ioreq_t* page = nullptr;
  buffered_iopage_t* bufpage = nullptr;
  std::vector<evtchn_port_t> ports;
  evtchn_port_t buf_port = 0;
};
