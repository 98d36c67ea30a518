// Server-side cost of one MMIO ioreq in the Xen frontend, on an in-process xensim host.
//
//   ioreq_serve_cost [iterations]
//
// 1. "serve": what IoreqLoop does for one READY slot: scan (buffered ring + slot), copy the
//    request once, validate against the claims, dispatch to a null device, write the answer
//    with barriers, notify the vCPU's port. The notify is a call into xensim here (a
//    hypercall on real Xen) and is also timed alone so it can be subtracted.
// 2. "round trip": a guest vCPU's MMIO read served by a running Frontend, all in-process.
// For instruction counts run it under callgrind with
//   --toggle-collect='xvgpu::ioreq::IoreqLoop::serve_all(xvgpu::gpu::IoHandler&)'
// and divide the Ir total by the iterations (see the ioreq report for figures).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include "gpu/io_handler.h"
#include "ioreq/barriers.h"
#include "ioreq/claim_table.h"
#include "ioreq/frontend.h"
#include "ioreq/ioreq_loop.h"
#include "ioreq/ioreq_server.h"
#include "ioreq/request_dispatcher.h"
#include "ioreq/xen_handles.h"
#include "xensim/guest.h"
#include "xensim/host.h"

using namespace xvgpu;
using namespace xvgpu::ioreq;

namespace {

constexpr uint64_t kBar = 0xf0000000;

class NullDevice final : public gpu::IoHandler {
 public:
  uint64_t read(const gpu::IoAccess& a) noexcept override { return a.addr; }
  void write(const gpu::IoAccess&, uint64_t) noexcept override {}
};

class NoMemory final : public gpu::GuestMemory {
 public:
  void read(uint64_t gpa, std::span<std::byte>) override { throw gpu::GuestMemoryError(gpa, "none"); }
  void write(uint64_t gpa, std::span<const std::byte>) override { throw gpu::GuestMemoryError(gpa, "none"); }
  std::unique_ptr<gpu::GuestMapping> map(uint64_t gpa, uint64_t, bool) override {
    throw gpu::GuestMemoryError(gpa, "none");
  }
};

double ns_per(std::chrono::steady_clock::duration d, uint64_t n) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) /
         static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const bool serve_only = argc > 2 && std::string(argv[2]) == "--serve-only";
  xensim::Host host;
  xensim::Guest guest(host);
  xensim::DomainConfig cfg;
  cfg.vcpus = 1;
  cfg.ram_mib = 16;
  const Domid dom = guest.create_domain(cfg);  // stays paused: only the server side runs

  {
    auto dm = open_devicemodel();
    auto fmem = open_foreign_memory();
    auto xce = open_evtchn();
    IoreqServer server(dm.get(), fmem, xce.get(), dom, 1, true);
    ClaimTable claims;
    claims.add(gpu::IoSpace::Mmio, kBar, kBar + 0xffff);
    NoMemory memory;
    IoreqStats stats;
    RequestDispatcher dispatcher(dom, claims, memory, stats);
    IoreqLoop loop(server, xce.get(), dispatcher, stats, std::chrono::seconds(10), -1);
    NullDevice device;
    ioreq_t* slot = server.slot(0);
    // What Xen does to post a 4-byte MMIO read.
    const auto post = [slot] {
      slot->addr = kBar + 8;
      slot->size = 4;
      slot->count = 1;
      slot->dir = IOREQ_READ;
      slot->type = IOREQ_TYPE_COPY;
      slot->data_is_ptr = 0;
      slot->df = 0;
      write_barrier();
      slot->state = STATE_IOREQ_READY;
    };
    for (int i = 0; i < 1000; ++i) {
      post();
      loop.serve_all(device);
    }
    uint64_t answered = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < iterations; ++i) {
      post();
      answered += loop.serve_all(device);
    }
    const double serve_ns = ns_per(std::chrono::steady_clock::now() - t0, iterations);
    if (answered != iterations || slot->data != kBar + 8) {
      std::fprintf(stderr, "bench broken: %llu answered\n", static_cast<unsigned long long>(answered));
      return 1;
    }
    t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < iterations; ++i) post();
    const double post_ns = ns_per(std::chrono::steady_clock::now() - t0, iterations);
    t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < iterations; ++i) xenevtchn_notify(xce.get(), server.vcpu_port(0));
    const double notify_ns = ns_per(std::chrono::steady_clock::now() - t0, iterations);
    std::printf("serve one MMIO ioreq (scan..notify, null device): %.1f ns\n", serve_ns - post_ns);
    std::printf("  of which xenevtchn_notify on xensim:            %.1f ns\n", notify_ns);
    std::printf("  frontend's own work (serve - notify):           %.1f ns\n",
                serve_ns - post_ns - notify_ns);
  }
  if (serve_only) return 0;

  {
    FrontendOptions o;
    o.handle_signals = false;
    Frontend fe(dom, o);
    fe.platform().claims->claim_range(gpu::IoSpace::Mmio, kBar, kBar + 0xffff);
    NullDevice device;
    auto done = std::async(std::launch::async, [&] { return fe.run(device); });
    guest.unpause(dom);
    const uint64_t n = std::max<uint64_t>(iterations / 10, 1000);
    for (int i = 0; i < 1000; ++i) guest.mmio_read(dom, VcpuId{0}, kBar, 4);
    const auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < n; ++i) guest.mmio_read(dom, VcpuId{0}, kBar, 4);
    std::printf("in-process round trip (guest MMIO read -> frontend -> guest): %.0f ns\n",
                ns_per(std::chrono::steady_clock::now() - t0, n));
    fe.request_stop();
    done.get();
  }
  return 0;
}
