#include "ioreq/frontend.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
// clang-format off
extern "C" {
#include <xentoolcore.h>
}
// clang-format on

#include <optional>

#include "ioreq/claim_table.h"
#include "ioreq/dirty_log.h"
#include "ioreq/foreign_page_mapper.h"
#include "ioreq/ioreq_loop.h"
#include "ioreq/ioreq_server.h"
#include "ioreq/map_cache.h"
#include "ioreq/pci_cf8_latch.h"
#include "ioreq/request_dispatcher.h"
#include "ioreq/restriction_check.h"
#include "ioreq/signal_guard.h"
#include "ioreq/xen_direct_memory.h"
#include "ioreq/xen_guest_memory.h"
#include "ioreq/xen_handles.h"
#include "ioreq/xen_interrupts.h"
#include "ioreq/xen_range_claims.h"

namespace xvgpu::ioreq {

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::StopRequested:
      return "stop requested";
    case StopReason::Signal:
      return "signal";
    case StopReason::DomainGone:
      return "domain gone";
    case StopReason::Error:
      return "error";
  }
  return "?";
}

// Members are declared in set-up order, so they are torn down in reverse.
class Frontend::Impl {
 public:
  Impl(Domid d, const FrontendOptions& o) : domid(d), options(o) {
    const auto ctx = [&](const std::string& what) { return fmt::format("dom{}: {}", domid.value, what); };
    if (options.handle_signals) {
      signals.emplace();
    }

    // 1. Handles (unrestricted).
    dm = open_devicemodel();
    fmem = open_foreign_memory();
    xce = open_evtchn();
    check_errno(xendevicemodel_nr_vcpus(dm.get(), domid.value, &nr_vcpus), ctx("xendevicemodel_nr_vcpus"));
    dirty = std::make_shared<DirtyLog>(dm, domid, stats);

    // 2. Privileged set-up, with unrestricted handles: growing the domain for direct memory
    //    (xenctrl), then the ioreq server (pages mapped, enabled, ports bound). Nothing read so
    //    far is guest-controlled.
    if (options.adopt_direct_memory) {
      direct = XenDirectMemory::adopt(dm, fmem, dirty, domid, *options.adopt_direct_memory);
    } else if (options.direct_memory_bytes != 0) {
      direct = XenDirectMemory::reserve(dm, fmem, dirty, domid, options.direct_memory_scratch_gfn,
                                        options.direct_memory_bytes);
    }
    server.emplace(dm.get(), fmem, xce.get(), domid, nr_vcpus, options.buffered_ioreq);

    // 3. Restrict every handle to the domain, and prove it, before any guest input is read.
    check_errno(xendevicemodel_restrict(dm.get(), domid.value), ctx("xendevicemodel_restrict"));
    check_errno(xenforeignmemory_restrict(fmem.get(), domid.value), ctx("xenforeignmemory_restrict"));
    check_errno(xenevtchn_restrict(xce.get(), domid.value), ctx("xenevtchn_restrict"));
    verify_restricted(dm.get(), fmem.get(), xce.get(), domid);
    if (direct) {
      direct->commit();  // closes the xenctrl handle
    }
    if (options.restrict_whole_process) {
      check_errno(xentoolcore_restrict_all(domid.value), ctx("xentoolcore_restrict_all"));
    }

    // 4. The services on top of the server.
    MapCacheOptions mc;
    mc.bucket_shift = options.map_cache_bucket_shift;
    mc.max_buckets = options.map_cache_max_buckets;
    cache = std::make_shared<MapCache>(std::make_shared<ForeignPageMapper>(fmem, domid), mc);
    memory.emplace(cache, dirty);
    interrupts.emplace(dm, domid, stats);
    range_claims.emplace(dm, domid, server->id(), claims);
    dispatcher.emplace(domid, claims, *memory, *stats);
    dispatcher->set_invalidate_hook([c = cache.get()] { c->invalidate(); });
    dispatcher->set_trace(options.trace.get());
    if (options.emulate_pci_cf8) {
      range_claims->claim_range(gpu::IoSpace::Port, PciCf8Latch::kFirstPort, PciCf8Latch::kLastPort);
      cf8_latch.emplace();
      dispatcher->set_pci_cf8_latch(&*cf8_latch);
    }
    loop.emplace(*server, xce.get(), *dispatcher, *stats, options.domain_check_interval,
                 signals ? signals->fd() : -1);
    spdlog::info("dom{}: ioreq server {} ready ({} vCPUs, buffered ring {}, {} pages{}{})", domid.value,
                 server->id(), nr_vcpus, options.buffered_ioreq ? "on" : "off",
                 server->legacy_mapping() ? "legacy" : "resource",
                 options.emulate_pci_cf8 ? ", PCI address port 0xcf8 emulated" : "",
                 direct ? fmt::format(", {} MiB direct memory", options.direct_memory_bytes >> 20) : "");
  }

  Domid domid;
  FrontendOptions options;
  std::shared_ptr<IoreqStats> stats = std::make_shared<IoreqStats>();
  std::optional<SignalGuard> signals;
  DevicemodelHandle dm;
  ForeignMemoryHandle fmem;
  EvtchnHandle xce;
  unsigned nr_vcpus = 0;
  std::shared_ptr<DirtyLog> dirty;
  std::unique_ptr<XenDirectMemory> direct;
  std::optional<IoreqServer> server;
  ClaimTable claims;
  std::shared_ptr<MapCache> cache;
  std::optional<XenGuestMemory> memory;
  std::optional<XenInterrupts> interrupts;
  std::optional<XenRangeClaims> range_claims;
  std::optional<PciCf8Latch> cf8_latch;
  std::optional<RequestDispatcher> dispatcher;
  std::optional<IoreqLoop> loop;
};

Frontend::Frontend(Domid domid, const FrontendOptions& options) {
  try {
    impl_ = std::make_unique<Impl>(domid, options);
  } catch (...) {
    rethrow_with_context(fmt::format("setting up the ioreq server for domain {}", domid.value));
  }
}

Frontend::~Frontend() {
  if (impl_) {
    spdlog::info("dom{}: tearing down the ioreq server", impl_->domid.value);
    // Timed, because a device model must be gone soon after its domain: the unmapping of guest
    // memory (map cache, direct memory) is what costs.
    using Clock = std::chrono::steady_clock;
    const auto ms = [](Clock::time_point a, Clock::time_point b) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
    };
    const auto t0 = Clock::now();
    impl_->loop.reset();
    impl_->dispatcher.reset();
    impl_->memory.reset();
    impl_->dirty.reset();
    impl_->cache.reset();
    const auto t1 = Clock::now();
    impl_->cf8_latch.reset();
    impl_->range_claims.reset();
    impl_->interrupts.reset();
    impl_->server.reset();
    const auto t2 = Clock::now();
    impl_->direct.reset();
    const auto t3 = Clock::now();
    const Domid d = impl_->domid;
    impl_.reset();
    spdlog::info(
        "dom{}: ioreq server torn down in {} ms (map cache {} ms, server {} ms, direct memory {} ms)",
        d.value, ms(t0, Clock::now()), ms(t0, t1), ms(t1, t2), ms(t2, t3));
  }
}

Domid Frontend::domid() const {
  return impl_->domid;
}
unsigned Frontend::vcpu_count() const {
  return impl_->nr_vcpus;
}
uint16_t Frontend::server_id() const {
  return impl_->server->id();
}

gpu::Platform Frontend::platform() {
  gpu::Platform p;
  p.domid = impl_->domid;
  p.memory = &*impl_->memory;
  p.interrupts = &*impl_->interrupts;
  p.claims = &*impl_->range_claims;
  p.direct_memory = impl_->direct.get();
  return p;
}

StopReason Frontend::run(gpu::IoHandler& handler) {
  const StopReason why = impl_->loop->run(handler);
  if (why == StopReason::DomainGone && impl_->direct) {
    impl_->direct->domain_gone();
  }
  return why;
}
void Frontend::request_stop() noexcept {
  impl_->loop->request_stop();
}
void Frontend::post(std::function<void()> fn) {
  impl_->loop->post(std::move(fn));
}
const IoreqStats& Frontend::stats() const {
  return *impl_->stats;
}

DirectLayout Frontend::direct_layout() const {
  return impl_->direct ? impl_->direct->layout() : DirectLayout{};
}

}  // namespace xvgpu::ioreq
