// The serving loop: one thread, epoll on the event-channel fd, a control eventfd (stop and
// posted functions), a signalfd (SIGTERM/SIGINT) and the domain-watch timer. Requests are
// served on this thread, never handed to another one.
//
// One wake-up of the event-channel fd costs, on a Linux dom0, four syscalls: epoll_wait, one
// xenevtchn_pending (read), its xenevtchn_unmask (write), and one xenevtchn_notify (ioctl) per
// answered vCPU; the same as qemu-xen's cpu_handle_ioreq. It takes ONE port and then serves the
// buffered ring and every vCPU slot in state READY. epoll is level-triggered, so further queued
// ports wake it again at once; asking "is more pending?" after each port (poll) would cost one
// more syscall on every request to save one only when several vCPUs fire together. A request
// is never left waiting: Xen writes READY before notifying, so every READY slot either has its
// port still queued or was visible to the pass that followed consuming it.
//
// Per slot (serve_slot): read barrier, copy the request once, state -> INPROCESS, dispatch,
// write data, write barrier, state -> IORESP_READY, notify that vCPU's port. States only move
// forward. Nothing on this path logs, reads a clock or takes a contended lock unless the guest
// misbehaves (then rate-limited).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

#include "common/unique_fd.h"
#include "gpu/io_handler.h"
#include "ioreq/domain_watch.h"
#include "ioreq/frontend.h"
#include "ioreq/ioreq_server.h"
#include "ioreq/ioreq_stats.h"
#include "ioreq/request_dispatcher.h"

namespace xvgpu::ioreq {

class IoreqLoop {
 public:
  // signal_fd: a signalfd for SIGTERM/SIGINT, or -1 (owned by the caller).
  IoreqLoop(IoreqServer& server, xenevtchn_handle* xce, RequestDispatcher& dispatcher, IoreqStats& stats,
            std::chrono::milliseconds domain_check_interval, int signal_fd);

  StopReason run(gpu::IoHandler& handler);
  void request_stop() noexcept;
  void post(std::function<void()> fn);

  // One pass over the buffered ring and every vCPU slot; returns the synchronous requests
  // answered. Public for tests and the benchmark.
  unsigned serve_all(gpu::IoHandler& handler);
  // Serves vCPU v's slot if it holds a READY request and notifies the vCPU; true if it did.
  bool serve_slot(unsigned v, gpu::IoHandler& handler);

 private:
  enum class PortResult { Taken, None, Error };
  // Consumes one queued event-channel notification and unmasks its port. None: nothing was
  // queued (a spurious wake-up or EINTR); Error: errno says why.
  PortResult take_port();
  void run_posted();

  IoreqServer& server_;
  xenevtchn_handle* xce_;
  RequestDispatcher& dispatcher_;
  IoreqStats& stats_;
  DomainWatch watch_;
  int signal_fd_;
  UniqueFd epoll_;
  UniqueFd control_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
};

}  // namespace xvgpu::ioreq
