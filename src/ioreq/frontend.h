// The front door of the Xen frontend: one hardened ioreq server for one guest domain.
//
// Usage (the device-model binary, src/dm):
//
//   xvgpu::ioreq::FrontendOptions opts;
//   opts.direct_memory_bytes = total_vram_of_all_vgpus;   // known before set-up, see below
//   xvgpu::ioreq::Frontend fe(domid, opts);   // privileged set-up, then every handle restricted
//   {
//     auto vgpus = make_vgpus(fe.platform());   // the core claims config space / BARs here
//     // control socket thread: fe.post([&] { vgpus.hotplug(...); });  fe.request_stop();
//     auto why = fe.run(*vgpus.io_handler());    // blocks until stop / SIGTERM / SIGINT / domain death
//   }                                            // destroy everything holding Platform pointers first
//   // ~Frontend tears down in reverse order (server disabled, ports unbound, pages unmapped, ...)
//   return why == StopReason::Error ? 1 : 0;
//
// Threading: construct on the main thread before starting other threads: the constructor
// blocks SIGTERM and SIGINT in the calling thread (threads created later inherit the mask) so
// that they are received through a signalfd by run(). request_stop() and post() are safe from
// any thread; everything else belongs to the thread that calls run(). The gpu::Platform
// services may be used from any thread (guest memory and interrupts are thread-safe).
//
// Errors: the constructor throws xvgpu::SystemError / xvgpu::Error naming the Xen call that
// failed; nothing is leaked. Guest misbehaviour never throws: it is answered as Xen's default
// would (reads all ones, writes dropped), counted in stats() and logged rate-limited.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "common/types.h"
#include "gpu/io_handler.h"
#include "gpu/platform.h"
#include "ioreq/direct_layout.h"
#include "ioreq/ioreq_stats.h"
#include "ioreq/ioreq_trace.h"

namespace xvgpu::ioreq {

struct FrontendOptions {
  // Ask Xen for the buffered ring (HVM_IOREQSRV_BUFIOREQ_ATOMIC): write-only accesses Xen
  // chooses to post without waiting (standard-VGA writes, TIMEOFFSET).
  bool buffered_ioreq = true;
  // Bytes of memory the guest reaches directly (the VRAM of every vGPU this process will
  // serve, page multiple). Populated during privileged set-up, before restriction, because
  // growing a domain needs an unrestricted xenctrl handle. 0 = gpu::Platform::direct_memory
  // is null.
  uint64_t direct_memory_bytes = 0;
  // Guest frame where direct memory is populated before the guest places it with a BAR.
  // Must be unused guest-physical space; 0 (default): just above what the guest's RAM can
  // occupy (4 GiB + its page limit + 2 GiB for hvmloader's relocation), see xen_direct_memory.cc.
  uint64_t direct_memory_scratch_gfn = 0;
  // Restore: adopt the direct memory of a saved device model (the restored domain has its
  // pages) instead of populating it; direct_memory_bytes and _scratch_gfn are then ignored.
  std::optional<DirectLayout> adopt_direct_memory;
  // Additionally call xentoolcore_restrict_all(domid) after restricting our own handles:
  // right for a single-domain device-model process, wrong in a process serving several.
  bool restrict_whole_process = false;
  // Receive SIGTERM and SIGINT through a signalfd (run() returns StopReason::Signal).
  bool handle_signals = true;
  // How often run() checks that the domain still exists (death noticed within this + ~1 call).
  std::chrono::milliseconds domain_check_interval{250};
  // Map cache: guest memory is mapped in buckets of 2^bucket_shift bytes, at most
  // max_buckets of them unpinned at once (least recently used evicted first).
  unsigned map_cache_bucket_shift = 20;
  size_t map_cache_max_buckets = 256;
  // Claim ports 0xcf8-0xcfb and answer the PCI address register there (pci_cf8_latch.h), so
  // that a guest without an emulated PCI host bridge (PVH) finds type-1 config access. OFF
  // for HVM guests: QEMU owns 0xcf8 there.
  bool emulate_pci_cf8 = false;
  // Record the shape and verdict of every request (ioreq_trace.h); null = off.
  std::shared_ptr<IoreqTrace> trace;
};

enum class StopReason {
  StopRequested,  // request_stop() was called
  Signal,         // SIGTERM or SIGINT
  DomainGone,     // the domain died or Xen destroyed our ioreq server
  Error,          // an unrecoverable host-side failure (event channel device error, ...)
};
[[nodiscard]] const char* to_string(StopReason r);

class Frontend {
 public:
  // Privileged set-up for `domid`, then restriction of every handle (verified by probing
  // another domain, see restriction_check.h); see FrontendOptions.
  Frontend(Domid domid, const FrontendOptions& options);
  ~Frontend();
  Frontend(const Frontend&) = delete;
  Frontend& operator=(const Frontend&) = delete;

  [[nodiscard]] Domid domid() const;
  [[nodiscard]] unsigned vcpu_count() const;
  // Xen's id of our ioreq server (diagnostics, tests).
  [[nodiscard]] uint16_t server_id() const;
  // Services for the vGPU core; the pointers stay valid until the Frontend is destroyed.
  [[nodiscard]] gpu::Platform platform();

  // Serves the guest on the calling thread until stopped; may be called again after it
  // returned StopRequested. Never throws for guest behaviour; throws Error only for a broken
  // host set-up (e.g. epoll failure) before serving.
  StopReason run(gpu::IoHandler& handler);
  // Thread-safe and async-signal-safe: makes run() return StopRequested soon.
  void request_stop() noexcept;
  // Thread-safe: runs fn on the loop thread between two ioreqs (runs at the start of the next
  // run() if none is active). Exceptions from fn are logged, never propagated.
  void post(std::function<void()> fn);

  [[nodiscard]] const IoreqStats& stats() const;
  // Where the direct memory is now (empty layout without direct memory). Thread-safe.
  [[nodiscard]] DirectLayout direct_layout() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace xvgpu::ioreq
