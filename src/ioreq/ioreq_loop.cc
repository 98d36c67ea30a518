#include "ioreq/ioreq_loop.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include <cstddef>
#include <cstring>

#include "common/rate_limited_log.h"

#include "ioreq/barriers.h"
#include "ioreq/buffered_ring.h"

namespace xvgpu::ioreq {

namespace {
enum Tag : uint64_t { kEvtchn = 1, kControl, kSignal, kWatch, kRelease };

// The byte holding state:4 | data_is_ptr:1 | dir:1 | df:1 (ioreq.h's bitfields).
static_assert(sizeof(ioreq_t) == 32 && offsetof(ioreq_t, type) == 31);
constexpr size_t kStateByte = 30;
constexpr uint8_t kStateMask = 0x0f;

void add_fd(int epoll, int fd, Tag tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  check_errno(::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev), "epoll_ctl(ADD)");
}

RateLimiter notify_log;  // failed notifications (one device model serves one domain)
}  // namespace

IoreqLoop::IoreqLoop(IoreqServer& server, xenevtchn_handle* xce, RequestDispatcher& dispatcher,
                     IoreqStats& stats, std::chrono::milliseconds domain_check_interval, int signal_fd)
    : server_(server),
      xce_(xce),
      dispatcher_(dispatcher),
      stats_(stats),
      watch_(server, domain_check_interval),
      signal_fd_(signal_fd),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      control_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!epoll_) {
    throw SystemError(errno, "epoll_create1");
  }
  if (!control_) {
    throw SystemError(errno, "eventfd");
  }
  const int evfd = xenevtchn_fd(xce_);
  check_errno(evfd, "xenevtchn_fd");
  add_fd(epoll_.get(), evfd, kEvtchn);
  add_fd(epoll_.get(), control_.get(), kControl);
  add_fd(epoll_.get(), watch_.fd(), kWatch);
  if (watch_.release_fd() >= 0) {
    add_fd(epoll_.get(), watch_.release_fd(), kRelease);
  }
  if (signal_fd_ >= 0) {
    add_fd(epoll_.get(), signal_fd_, kSignal);
  }
}

void IoreqLoop::request_stop() noexcept {
  stop_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(control_.get(), &one, sizeof one);  // async-signal-safe
}

void IoreqLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    posted_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(control_.get(), &one, sizeof one);
}

void IoreqLoop::run_posted() {
  std::vector<std::function<void()>> todo;
  {
    std::lock_guard lock(mu_);
    todo.swap(posted_);
  }
  for (auto& fn : todo) {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("dom{}: posted operation failed: {}", server_.domid().value, e.what());
    }
  }
}

bool IoreqLoop::serve_slot(unsigned v, gpu::IoHandler& handler) {
  ioreq_t* slot = server_.slot(v);
  std::atomic_ref<uint8_t> state(reinterpret_cast<uint8_t*>(slot)[kStateByte]);
  const uint8_t flags = state.load(std::memory_order_relaxed);
  if ((flags & kStateMask) != STATE_IOREQ_READY) {
    return false;
  }
  read_barrier();  // the request fields were written before the state
  ioreq_t req;
  std::memcpy(&req, slot, sizeof req);  // the one and only read of the request
  state.store(static_cast<uint8_t>((flags & ~kStateMask) | STATE_IOREQ_INPROCESS), std::memory_order_relaxed);

  const uint64_t data = dispatcher_.serve(req, VcpuId{v}, handler);

  std::atomic_ref<uint64_t>(slot->data).store(data, std::memory_order_relaxed);
  write_barrier();  // data before state: Xen reads data once it sees IORESP_READY
  state.store(static_cast<uint8_t>((flags & ~kStateMask) | STATE_IORESP_READY), std::memory_order_relaxed);
  // A lost notification leaves the vCPU blocked forever (Xen re-reads the state only on an
  // event): try again before giving up, and say so.
  for (int attempt = 0; xenevtchn_notify(xce_, server_.vcpu_port(v)) != 0; ++attempt) {
    const int e = errno;
    stats_.hypervisor_errors.fetch_add(1);
    XVGPU_LOG_LIMITED(notify_log, spdlog::level::err, "dom{}: xenevtchn_notify for vCPU {} failed{}: {}",
                      server_.domid().value, v, attempt < 2 ? ", retrying" : "; the vCPU may stay blocked",
                      std::strerror(e));
    if (attempt == 2) {
      break;
    }
  }
  return true;
}

unsigned IoreqLoop::serve_all(gpu::IoHandler& handler) {
  if (buffered_iopage_t* page = server_.buffered_page()) {
    BufferedRing ring(page);
    ioreq_t req;
    // Drained before any vCPU slot: when the ring is full Xen sends the vCPU's next write as a
    // synchronous request, which must not overtake the buffered writes queued before it (a
    // bound of a ring or two lets it when the guest refills the ring while this loop drains it).
    // The bound, 64 rings, only stops a guest that keeps refilling the ring from holding the loop.
    for (unsigned i = 0; i < 64 * IOREQ_BUFFER_SLOT_NUM; ++i) {
      const auto r = ring.pop(req);
      if (r == BufferedRing::Pop::Empty) {
        break;
      }
      if (r == BufferedRing::Pop::Malformed) {
        stats_.count(Refusal::BadBuffered);
        continue;
      }
      dispatcher_.serve_buffered(req, handler);
    }
  }
  unsigned answered = 0;
  for (unsigned v = 0; v < server_.nr_vcpus(); ++v) {
    answered += serve_slot(v, handler) ? 1 : 0;
  }
  return answered;
}

IoreqLoop::PortResult IoreqLoop::take_port() {
  const xenevtchn_port_or_error_t port = xenevtchn_pending(xce_);
  if (port < 0) {
    // Nothing queued after all (or interrupted): epoll is level-triggered, so a port still
    // queued wakes us again. Nothing was consumed, so nothing needs serving for it.
    return errno == EAGAIN || errno == EINTR ? PortResult::None : PortResult::Error;
  }
  // Unmask before looking at the slots: a request Xen posts from here on notifies again.
  if (xenevtchn_unmask(xce_, static_cast<evtchn_port_t>(port)) != 0) {
    return PortResult::Error;
  }
  return PortResult::Taken;
}

StopReason IoreqLoop::run(gpu::IoHandler& handler) {
  run_posted();
  // Requests may have been posted before we started listening.
  serve_all(handler);
  for (;;) {
    if (stop_.exchange(false)) {
      return StopReason::StopRequested;
    }
    epoll_event events[4];
    const int n = ::epoll_wait(epoll_.get(), events, 4, -1);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      spdlog::error("dom{}: epoll_wait: {}", server_.domid().value, std::strerror(errno));
      return StopReason::Error;
    }
    for (int i = 0; i < n; ++i) {
      switch (events[i].data.u64) {
        case kEvtchn:
          stats_.wakeups.fetch_add(1, std::memory_order_relaxed);
          switch (take_port()) {
            case PortResult::Taken:
              serve_all(handler);
              break;
            case PortResult::None:
              stats_.empty_wakeups.fetch_add(1, std::memory_order_relaxed);
              break;
            case PortResult::Error: {
              const int e = errno;
              if (!server_.alive()) {
                return StopReason::DomainGone;
              }
              spdlog::error("dom{}: event channel: {}", server_.domid().value, std::strerror(e));
              return StopReason::Error;
            }
          }
          break;
        case kControl: {
          uint64_t v = 0;
          [[maybe_unused]] const auto r = ::read(control_.get(), &v, sizeof v);
          run_posted();
          break;
        }
        case kSignal: {
          signalfd_siginfo si{};
          if (::read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            spdlog::info("dom{}: signal {} received, stopping", server_.domid().value, si.ssi_signo);
            return StopReason::Signal;
          }
          break;
        }
        case kWatch:
          if (!watch_.check()) {
            spdlog::info("dom{}: the domain is gone, stopping", server_.domid().value);
            return StopReason::DomainGone;
          }
          break;
        case kRelease:
          if (!watch_.check_release()) {
            spdlog::info("dom{}: the domain is gone (@releaseDomain), stopping", server_.domid().value);
            return StopReason::DomainGone;
          }
          break;
        default:
          break;
      }
    }
  }
}

}  // namespace xvgpu::ioreq
